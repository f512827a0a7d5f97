package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/coaching/intercom_exporter/engagement"
	"github.com/coaching/intercom_exporter/intercom"
)

// idsPerSearch is how many contact ids one contact search asks for (one
// "IN" filter): a full page.
const idsPerSearch = 150

// contactSearchConcurrency bounds the contact searches in flight; the
// client's limiter paces them all by the rate-limit headers.
const contactSearchConcurrency = 4

// readResult is one complete read of Intercom, mapped to the rules' input.
type readResult struct {
	data              engagement.Data
	invalid           map[string]int // attribute -> contacts whose value could not be read
	workspaceTimezone string
	conversationsRead int
	contactSearches   int
}

// read reads everything the reports need (SPEC.md section 6). Any error
// fails the whole read: nothing partial is ever published.
func (e *Exporter) read(ctx context.Context, now time.Time) (*readResult, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &readResult{}

	ws, err := e.client.Me(ctx)
	if err != nil {
		return r, fmt.Errorf("reading the workspace (GET /me): %w", err)
	}
	r.workspaceTimezone = ws.Timezone

	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel(err)
		}
		errMu.Unlock()
	}
	contacts := newContactSet()

	// Admins: refused (403) means coaches are shown by id, and the refresh
	// goes on (SPEC.md section 6).
	wg.Go(func() {
		admins, err := e.client.ListAdmins(ctx)
		var apiErr *intercom.APIError
		switch {
		case err == nil:
			r.data.Admins = make([]engagement.Admin, 0, len(admins))
			for _, a := range admins {
				r.data.Admins = append(r.data.Admins, engagement.Admin{ID: a.ID, Name: a.Name})
			}
			r.data.AdminsKnown = true
		case errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden:
			e.warnOnce("admins-403", "admins cannot be read (403): coaches are shown by admin id; grant the token the read admins permission to see names", "err", err)
		default:
			fail(fmt.Errorf("reading admins (GET /admins): %w", err))
		}
	})

	// Contacts that carry the attributes the reports read: the enrolled
	// participants and those with a stored last call.
	var searches int
	var searchesMu sync.Mutex
	wg.Go(func() {
		n, err := e.readAttributeContacts(ctx, contacts)
		searchesMu.Lock()
		searches += n
		searchesMu.Unlock()
		if err != nil {
			fail(err)
		}
	})

	// Closed conversations updated since the start of the lookback. The
	// channel is filtered here: conversation custom attributes are not
	// searchable.
	channels := engagement.NewChannels(e.ecfg)
	start := (engagement.DayOf(now, e.ecfg.Location) - engagement.Day(e.ecfg.LookbackDays)).Start(e.ecfg.Location).Unix()
	seen := map[string]int{}
	var convs []engagement.Conversation
	wg.Go(func() {
		q := intercom.And(
			intercom.Filter("updated_at", ">", start-1),
			intercom.Filter("state", "=", "closed"),
		)
		err := e.client.SearchConversations(ctx, q, func(page []intercom.Conversation) error {
			for i := range page {
				c := &page[i]
				r.conversationsRead++
				if c.State != "closed" || channels.Lookup(channelOf(c, e.cfg.ChannelAttribute)) < 0 {
					continue
				}
				ec := engagement.Conversation{
					ID:        c.ID,
					CreatedAt: c.CreatedAt,
					State:     c.State,
					Channel:   channelOf(c, e.cfg.ChannelAttribute),
					AdminID:   string(c.AdminAssigneeID),
				}
				for _, ref := range c.Contacts.Contacts {
					ec.ContactIDs = append(ec.ContactIDs, ref.ID)
				}
				// ">" may be ">=" and a conversation updated while the
				// pages are read comes again: keep one, the last seen.
				if k, dup := seen[c.ID]; dup {
					convs[k] = ec
					continue
				}
				seen[c.ID] = len(convs)
				convs = append(convs, ec)
			}
			return nil
		})
		if err != nil {
			fail(fmt.Errorf("searching conversations: %w", err))
		}
	})
	wg.Wait()
	if firstErr != nil {
		return r, firstErr
	}
	r.data.Conversations = convs

	// Every contact listed on a session that the searches above did not
	// bring: batched by id, never one GET per contact.
	var missing []string
	for i := range convs {
		for _, id := range convs[i].ContactIDs {
			if id != "" && !contacts.has(id) {
				missing = append(missing, id)
			}
		}
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	n, err := e.readContactsByID(ctx, missing, contacts)
	searches += n
	if err != nil {
		return r, err
	}
	r.contactSearches = searches

	r.data.Contacts, r.invalid = e.mapContacts(contacts.list())
	return r, nil
}

func channelOf(c *intercom.Conversation, attr string) string {
	s, _ := c.CustomAttributes.String(attr)
	return s
}

// readAttributeContacts searches the contacts that have a value for a
// registration attribute or the last call attribute. The search operator
// depends on the attribute's type (dates take neither != nor IN), so the
// contact data attributes are read first.
func (e *Exporter) readAttributeContacts(ctx context.Context, set *contactSet) (int, error) {
	types := map[string]string{}
	known := true
	attrs, err := e.client.ListDataAttributes(ctx, "contact")
	var apiErr *intercom.APIError
	switch {
	case err == nil:
		for _, a := range attrs {
			if !a.Archived || types[a.Name] == "" {
				types[a.Name] = a.DataType
			}
		}
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusForbidden:
		known = false
		e.warnOnce("data-attributes-403", "contact data attributes cannot be read (403): the engagement sync cannot run; grant the token the read data attributes permission", "err", err)
	default:
		return 0, fmt.Errorf("reading contact data attributes (GET /data_attributes): %w", err)
	}

	names := slices.Clone(e.cfg.RegistrationAttributes)
	if !slices.Contains(names, e.cfg.LastCallAttribute) {
		names = append(names, e.cfg.LastCallAttribute)
	}
	searches := 0
	for _, name := range names {
		dataType, ok := types[name]
		if known && !ok {
			e.warnOnce("missing-attr-"+name, "contact attribute does not exist in Intercom: no contact is read for it", "attribute", name)
			continue
		}
		field := "custom_attributes." + name
		var q intercom.Query
		switch dataType {
		case "date", "integer", "float":
			// Dates are matched by whole day in the workspace timezone:
			// "> 0" is every day after 1970-01-01.
			q = intercom.Filter(field, ">", 0)
		default:
			q = intercom.Filter(field, "!=", nil)
		}
		searches++
		err := e.client.SearchContacts(ctx, q, func(page []intercom.Contact) error {
			set.add(page)
			return nil
		})
		if err != nil {
			return searches, fmt.Errorf("searching contacts with %q: %w", name, err)
		}
	}
	return searches, nil
}

// readContactsByID reads contacts by id, idsPerSearch a search, a few
// searches at a time. A contact not found (deleted since) is simply absent.
func (e *Exporter) readContactsByID(ctx context.Context, ids []string, set *contactSet) (int, error) {
	var chunks [][]string
	for len(ids) > 0 {
		n := min(idsPerSearch, len(ids))
		chunks = append(chunks, ids[:n])
		ids = ids[n:]
	}
	if len(chunks) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan []string)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range min(contactSearchConcurrency, len(chunks)) {
		wg.Go(func() {
			for chunk := range jobs {
				err := e.client.SearchContacts(ctx, intercom.Filter("id", "IN", chunk), func(page []intercom.Contact) error {
					set.add(page)
					return nil
				})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("searching contacts by id: %w", err)
						cancel(firstErr)
					}
					mu.Unlock()
				}
			}
		})
	}
feed:
	for _, c := range chunks {
		select {
		case jobs <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = context.Cause(ctx)
	}
	return len(chunks), firstErr
}

// contactSet collects contacts from several searches; a contact met twice
// keeps its most recent version.
type contactSet struct {
	mu sync.Mutex
	m  map[string]intercom.Contact
}

func newContactSet() *contactSet { return &contactSet{m: map[string]intercom.Contact{}} }

func (s *contactSet) add(page []intercom.Contact) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range page {
		if c.ID == "" {
			continue
		}
		if old, ok := s.m[c.ID]; ok && old.UpdatedAt > c.UpdatedAt {
			continue
		}
		s.m[c.ID] = c
	}
}

func (s *contactSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	return ok
}

// list returns the contacts in id order (so a refresh is deterministic).
func (s *contactSet) list() []intercom.Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]intercom.Contact, 0, len(s.m))
	for _, c := range s.m {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b intercom.Contact) int { return engagement.CompareIDs(a.ID, b.ID) })
	return out
}

// mapContacts maps Intercom contacts to the rules' input, counting the
// present but unreadable values of each time attribute.
func (e *Exporter) mapContacts(in []intercom.Contact) ([]engagement.Contact, map[string]int) {
	loc := e.ecfg.Location
	invalid := map[string]int{}
	for _, name := range e.timeAttributes() {
		invalid[name] = 0
	}
	read := func(c *intercom.Contact, name string) *engagement.Stamp {
		v, err := c.CustomAttributes.Time(name)
		switch {
		case errors.Is(err, intercom.ErrMissing):
			return nil
		case err != nil:
			invalid[name]++
			return nil
		}
		s := stampOf(v, loc)
		return &s
	}
	out := make([]engagement.Contact, 0, len(in))
	for i := range in {
		c := &in[i]
		ec := engagement.Contact{
			ID:         c.ID,
			ExternalID: c.ExternalID,
			Name:       c.Name,
			Email:      c.Email,
			OwnerID:    string(c.OwnerID),
			UpdatedAt:  c.UpdatedAt,
		}
		ec.Employer, _ = c.CustomAttributes.String(e.cfg.EmployerAttribute)
		ec.StoredStatus, _ = c.CustomAttributes.String(e.cfg.StatusAttribute)
		// The first valid registration attribute counts; every present
		// but unreadable one is counted.
		for _, name := range e.cfg.RegistrationAttributes {
			if s := read(c, name); s != nil && ec.Registration == nil {
				ec.Registration = s
			}
		}
		if !slices.Contains(e.cfg.RegistrationAttributes, e.cfg.LastCallAttribute) {
			ec.StoredLastCall = read(c, e.cfg.LastCallAttribute)
		} else if v, err := c.CustomAttributes.Time(e.cfg.LastCallAttribute); err == nil {
			s := stampOf(v, loc)
			ec.StoredLastCall = &s
		}
		out = append(out, ec)
	}
	return out, invalid
}

// timeAttributes are the time attributes whose unreadable values are
// counted: the registration attributes and the last call, in that order.
func (e *Exporter) timeAttributes() []string {
	names := slices.Clone(e.cfg.RegistrationAttributes)
	if !slices.Contains(names, e.cfg.LastCallAttribute) {
		names = append(names, e.cfg.LastCallAttribute)
	}
	return names
}

// stampOf turns a time attribute into a Stamp in the organisation
// timezone: a date without a time is that day (its instant the start of
// the day there); an instant is itself, on its day there.
func stampOf(v intercom.TimeValue, loc *time.Location) engagement.Stamp {
	if v.DateOnly {
		d := engagement.DateDay(v.Year, v.Month, v.Day)
		return engagement.Stamp{Unix: d.Start(loc).Unix(), Day: d}
	}
	return engagement.Stamp{Unix: v.Unix, Day: engagement.DayOfUnix(v.Unix, loc)}
}
