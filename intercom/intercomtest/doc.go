// Package intercomtest is a fake Intercom REST API for tests and the demo.
//
// A Workspace holds the data (admins, contacts, conversations, data
// attributes) in memory; a Server serves it over HTTP the way the official
// API descriptions (versions 2.10 to 2.16, in the shape of the version a
// request asks for) and Intercom's developer
// documentation describe, including its awkward parts: bearer auth, error
// lists, cursor pagination, the search query language with its nesting
// limits, whole-day date matching on contact searches in the workspace
// timezone, "greater (or equal)" comparisons on conversation searches, the
// X-RateLimit-* headers and 429s per 10-second window. Faults (5xx, 429,
// malformed or truncated bodies, dropped connections, slow answers) can be
// injected on chosen requests, and every request is recorded.
//
// Generate builds a realistic, deterministic coaching workspace for the demo
// and for tests at any size up to hundreds of thousands of contacts and
// millions of conversations.
//
// Where the documentation leaves a choice, the fake takes the one that
// catches client mistakes:
//
//   - search results come in (updated_at, id) order and the cursor names the
//     last record served, not an offset; a record updated between two pages
//     comes again later, so clients must de-duplicate by id;
//   - conversation search > and < include the bound ("greater (or equal)");
//     >= and <= are refused there, as is searching conversation custom
//     attributes;
//   - contact search matches dates by whole day in the workspace timezone
//     and refuses != >= <= IN NIN on dates;
//   - per_page above 150 is refused (400), not capped;
//   - PUT /contacts/{id} refuses unknown, archived or ill-typed custom
//     attributes as a whole, writing nothing.
package intercomtest
