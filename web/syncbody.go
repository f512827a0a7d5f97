package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
)

// maxSyncBody is the largest body POST /sync and POST /API/intercom accept
// (docs/endpoints.md); a longer one gets 413.
const maxSyncBody = 4 << 10

// syncBody is the JSON body of the original app's callers:
// {"dryRun": true|false, "lookbackDays": N}. Both keys are optional.
type syncBody struct {
	DryRun bool
}

// errBodyTooLarge marks a body over maxSyncBody.
var errBodyTooLarge = fmt.Errorf("the request body is larger than %d bytes", maxSyncBody)

var jsonInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)

// readSyncBody reads and strictly decodes the body (docs/endpoints.md): one
// JSON object, exact-case keys, no duplicate, dryRun a boolean (not null),
// lookbackDays an integer equal to the configured lookback, no other key,
// nothing after the object. An empty body means no options. A body is
// never ignored: anything else is an error saying why.
func readSyncBody(body io.Reader, lookbackDays int) (syncBody, error) {
	var out syncBody
	if body == nil {
		return out, nil
	}
	raw, err := io.ReadAll(io.LimitReader(body, maxSyncBody+1))
	if err != nil {
		return out, fmt.Errorf("reading the request body: %w", err)
	}
	if len(raw) > maxSyncBody {
		return out, errBodyTooLarge
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return out, errors.New(`the body must be one JSON object, such as {"dryRun": true}`)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out, fmt.Errorf("the body is not valid JSON: %v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return out, fmt.Errorf("key %q appears twice in the body", key)
		}
		seen[key] = true
		val, err := dec.Token()
		if err != nil {
			return out, fmt.Errorf("the body is not valid JSON: %v", err)
		}
		switch key {
		case "dryRun":
			b, ok := val.(bool)
			if !ok {
				return out, fmt.Errorf("dryRun must be true or false, not %s", describeJSON(val))
			}
			out.DryRun = b
		case "lookbackDays":
			n, ok := val.(json.Number)
			if !ok || !jsonInteger.MatchString(n.String()) {
				return out, fmt.Errorf("lookbackDays must be an integer, not %s", describeJSON(val))
			}
			if v, err := strconv.Atoi(n.String()); err != nil || v != lookbackDays {
				return out, fmt.Errorf("lookbackDays is %s but the exporter's lookback is LOOKBACK_DAYS=%d; send %d or leave it out", n, lookbackDays, lookbackDays)
			}
		default:
			return out, fmt.Errorf("unknown key %q in the body; the keys are dryRun and lookbackDays (exact case)", key)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return out, fmt.Errorf("the body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return out, errors.New("nothing may follow the JSON object in the body")
	}
	return out, nil
}

// describeJSON names a decoded JSON token for an error message.
func describeJSON(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(tok)
}

// syncBodyStatus is the status of a body error: 413 when too large.
func syncBodyStatus(err error) int {
	if errors.Is(err, errBodyTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}
