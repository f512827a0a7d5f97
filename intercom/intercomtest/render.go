package intercomtest

import (
	"encoding/json"
	"sort"

	"github.com/coaching/intercom_exporter/intercom"
)

// The JSON shapes below follow the schemas of the official description;
// every field that version 2.11 marks required is present (with null where
// the fake has no value and the schema allows it), so responses validate
// against 2.10 and 2.11 alike.

type errorJSON struct {
	Type      string          `json:"type"`
	RequestID string          `json:"request_id"`
	Errors    []errorItemJSON `json:"errors"`
}

type errorItemJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type adminJSON struct {
	Type             string  `json:"type"`
	ID               string  `json:"id"`
	Name             string  `json:"name"`
	Email            string  `json:"email"`
	JobTitle         string  `json:"job_title"`
	AwayModeEnabled  bool    `json:"away_mode_enabled"`
	AwayModeReassign bool    `json:"away_mode_reassign"`
	HasInboxSeat     bool    `json:"has_inbox_seat"`
	TeamIDs          []int64 `json:"team_ids"`
}

func toAdminJSON(a intercom.Admin, jobTitle string) adminJSON {
	return adminJSON{Type: "admin", ID: a.ID, Name: a.Name, Email: a.Email, JobTitle: jobTitle, HasInboxSeat: true, TeamIDs: []int64{}}
}

type adminListJSON struct {
	Type   string      `json:"type"`
	Admins []adminJSON `json:"admins"`
}

type meJSON struct {
	adminJSON
	EmailVerified bool       `json:"email_verified"`
	Avatar        avatarJSON `json:"avatar"`
	App           appJSON    `json:"app"`
}

type avatarJSON struct {
	Type     string  `json:"type"`
	ImageURL *string `json:"image_url"`
}

type appJSON struct {
	Type                 string `json:"type"`
	IDCode               string `json:"id_code"`
	Name                 string `json:"name"`
	Region               string `json:"region"`
	Timezone             string `json:"timezone"`
	CreatedAt            int64  `json:"created_at"`
	Secure               bool   `json:"secure"`
	IdentityVerification bool   `json:"identity_verification"`
}

type dataAttributeJSON struct {
	Type              string `json:"type"`
	ID                *int   `json:"id,omitempty"`
	Model             string `json:"model"`
	Name              string `json:"name"`
	FullName          string `json:"full_name"`
	Label             string `json:"label"`
	Description       string `json:"description"`
	DataType          string `json:"data_type"`
	APIWritable       bool   `json:"api_writable"`
	UIWritable        bool   `json:"ui_writable"`
	MessengerWritable bool   `json:"messenger_writable"`
	Custom            bool   `json:"custom"`
	Archived          bool   `json:"archived"`
	CreatedAt         *int64 `json:"created_at,omitempty"`
	UpdatedAt         *int64 `json:"updated_at,omitempty"`
	AdminID           string `json:"admin_id,omitempty"`
}

type dataAttributeListJSON struct {
	Type string              `json:"type"`
	Data []dataAttributeJSON `json:"data"`
}

type pagesJSON struct {
	Type       string    `json:"type"`
	Page       int       `json:"page"`
	PerPage    int       `json:"per_page"`
	TotalPages int       `json:"total_pages"`
	Next       *nextJSON `json:"next,omitempty"`
}

// nextJSON is pages.next. Intercom sends page and starting_after; per_page
// is added because version 2.11 of the description requires it in the
// starting_after_paging schema that pages.next refers to.
type nextJSON struct {
	Page          int    `json:"page"`
	StartingAfter string `json:"starting_after"`
	PerPage       int    `json:"per_page"`
}

type conversationListJSON struct {
	Type          string             `json:"type"`
	Conversations []conversationJSON `json:"conversations"`
	TotalCount    int                `json:"total_count"`
	Pages         pagesJSON          `json:"pages"`
}

type conversationJSON struct {
	Type            string               `json:"type"`
	ID              string               `json:"id"`
	Title           *string              `json:"title"`
	CreatedAt       int64                `json:"created_at"`
	UpdatedAt       int64                `json:"updated_at"`
	WaitingSince    *int64               `json:"waiting_since"`
	SnoozedUntil    *int64               `json:"snoozed_until"`
	Open            bool                 `json:"open"`
	State           string               `json:"state"`
	Read            bool                 `json:"read"`
	Priority        string               `json:"priority"`
	AdminAssigneeID json.RawMessage      `json:"admin_assignee_id"`
	TeamAssigneeID  json.RawMessage      `json:"team_assignee_id"`
	Tags            tagListJSON          `json:"tags"`
	Source          sourceJSON           `json:"source"`
	Contacts        conversationContacts `json:"contacts"`
	Teammates       teammatesJSON        `json:"teammates"`
	CustomAttr      json.RawMessage      `json:"custom_attributes"`
	Topics          struct{}             `json:"topics"`
}

type tagListJSON struct {
	Type string     `json:"type"`
	Tags []struct{} `json:"tags"`
}

type sourceJSON struct {
	Type        string     `json:"type"`
	ID          string     `json:"id"`
	DeliveredAs string     `json:"delivered_as"`
	Subject     string     `json:"subject"`
	Body        string     `json:"body"`
	Author      authorJSON `json:"author"`
	Attachments []struct{} `json:"attachments"`
	URL         *string    `json:"url"`
	Redacted    bool       `json:"redacted"`
}

type authorJSON struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type conversationContacts struct {
	Type     string           `json:"type"`
	Contacts []contactRefJSON `json:"contacts"`
}

type contactRefJSON struct {
	Type       string  `json:"type"`
	ID         string  `json:"id"`
	ExternalID *string `json:"external_id"`
}

type teammatesJSON struct {
	Type      string          `json:"type"`
	Teammates []referenceJSON `json:"teammates"`
}

type referenceJSON struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

var (
	jsonNull     = json.RawMessage("null")
	jsonEmptyObj = json.RawMessage("{}")
)

// integerOrNull renders an id that the description types as integer:
// a canonical number as is, anything else (none) as null.
func integerOrNull(id string) json.RawMessage {
	if numericID(id) >= 0 {
		return json.RawMessage(id)
	}
	return jsonNull
}

func strOrNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// conversationJSON renders a stored conversation; callers hold w.mu.
func (w *Workspace) conversationJSON(r *convRec) conversationJSON {
	id := r.idString()
	state := w.strs[r.state]
	admin := w.strs[r.admin]
	c := conversationJSON{
		Type:            "conversation",
		ID:              id,
		CreatedAt:       r.createdAt,
		UpdatedAt:       r.updatedAt,
		Open:            state != "closed",
		State:           state,
		Read:            true,
		Priority:        "not_priority",
		AdminAssigneeID: integerOrNull(admin),
		TeamAssigneeID:  integerOrNull(w.strs[r.team]),
		Tags:            tagListJSON{Type: "tag.list", Tags: []struct{}{}},
		Contacts:        conversationContacts{Type: "contact.list", Contacts: make([]contactRefJSON, r.refN)},
		Teammates:       teammatesJSON{Type: "admin.list", Teammates: []referenceJSON{}},
		CustomAttr:      jsonEmptyObj,
	}
	if state == "snoozed" {
		until := r.updatedAt + 86400
		c.SnoozedUntil = &until
	}
	if raw := w.strs[r.attrs]; raw != "" {
		c.CustomAttr = json.RawMessage(raw)
	}
	for k, ref := range w.refArena[r.refOff : r.refOff+uint32(r.refN)] {
		cr := w.refs[ref]
		c.Contacts.Contacts[k] = contactRefJSON{Type: "contact", ID: cr.ID, ExternalID: strOrNull(cr.ExternalID)}
	}
	author := w.me
	if a, ok := w.adminByID(admin); ok {
		author = a
		c.Teammates.Teammates = append(c.Teammates.Teammates, referenceJSON{Type: "admin", ID: a.ID})
	}
	c.Source = sourceJSON{
		Type: "conversation", ID: "4" + id, DeliveredAs: "admin_initiated",
		Author:      authorJSON{Type: "admin", ID: author.ID, Name: author.Name, Email: author.Email},
		Attachments: []struct{}{},
	}
	return c
}

type contactListJSON struct {
	Type       string        `json:"type"`
	Data       []contactJSON `json:"data"`
	TotalCount int           `json:"total_count"`
	Pages      pagesJSON     `json:"pages"`
}

type contactJSON struct {
	Type                   string                     `json:"type"`
	ID                     string                     `json:"id"`
	WorkspaceID            string                     `json:"workspace_id"`
	ExternalID             *string                    `json:"external_id"`
	Role                   string                     `json:"role"`
	Email                  string                     `json:"email"`
	EmailDomain            string                     `json:"email_domain"`
	Phone                  *string                    `json:"phone"`
	Name                   *string                    `json:"name"`
	Avatar                 *avatarJSON                `json:"avatar"`
	OwnerID                json.RawMessage            `json:"owner_id"`
	SocialProfiles         listJSON                   `json:"social_profiles"`
	HasHardBounced         bool                       `json:"has_hard_bounced"`
	MarkedEmailAsSpam      bool                       `json:"marked_email_as_spam"`
	UnsubscribedFromEmails bool                       `json:"unsubscribed_from_emails"`
	CreatedAt              int64                      `json:"created_at"`
	UpdatedAt              int64                      `json:"updated_at"`
	SignedUpAt             *int64                     `json:"signed_up_at"`
	LastSeenAt             *int64                     `json:"last_seen_at"`
	LastRepliedAt          *int64                     `json:"last_replied_at"`
	LastContactedAt        *int64                     `json:"last_contacted_at"`
	LastEmailOpenedAt      *int64                     `json:"last_email_opened_at"`
	LastEmailClickedAt     *int64                     `json:"last_email_clicked_at"`
	LanguageOverride       *string                    `json:"language_override"`
	Browser                *string                    `json:"browser"`
	BrowserVersion         *string                    `json:"browser_version"`
	BrowserLanguage        *string                    `json:"browser_language"`
	OS                     *string                    `json:"os"`
	Location               locationJSON               `json:"location"`
	CustomAttributes       map[string]json.RawMessage `json:"custom_attributes"`
	Tags                   addressableListJSON        `json:"tags"`
	Notes                  addressableListJSON        `json:"notes"`
	Companies              addressableListJSON        `json:"companies"`
}

type listJSON struct {
	Type string     `json:"type"`
	Data []struct{} `json:"data"`
}

type locationJSON struct {
	Type    string  `json:"type"`
	Country *string `json:"country"`
	Region  *string `json:"region"`
	City    *string `json:"city"`
}

type addressableListJSON struct {
	Type       string     `json:"type"`
	Data       []struct{} `json:"data"`
	URL        string     `json:"url"`
	TotalCount int        `json:"total_count"`
	HasMore    bool       `json:"has_more"`
}

func emptyList(contactID, what string) addressableListJSON {
	return addressableListJSON{Type: "list", Data: []struct{}{}, URL: "/contacts/" + contactID + "/" + what}
}

// contactJSON renders a contact. Its custom_attributes hold every live
// custom data attribute of model contact, null when unset, as Intercom
// sends them, plus any other value stored on the contact. Callers hold w.mu.
func (w *Workspace) contactJSON(c *intercom.Contact) contactJSON {
	attrs := make(map[string]json.RawMessage, len(c.CustomAttributes)+8)
	for _, a := range w.attrs {
		if a.Model == "contact" && a.Custom && !a.Archived {
			attrs[a.Name] = jsonNull
		}
	}
	for k, v := range c.CustomAttributes {
		if len(v) == 0 {
			v = jsonNull
		}
		attrs[k] = v
	}
	email := c.Email
	domain := ""
	for i := len(email) - 1; i >= 0; i-- {
		if email[i] == '@' {
			domain = email[i+1:]
			break
		}
	}
	role := c.Role
	if role == "" {
		role = "user"
	}
	created := c.CreatedAt
	return contactJSON{
		Type:             "contact",
		ID:               c.ID,
		WorkspaceID:      w.app.IDCode,
		ExternalID:       strOrNull(c.ExternalID),
		Role:             role,
		Email:            email,
		EmailDomain:      domain,
		Name:             strOrNull(c.Name),
		OwnerID:          integerOrNull(string(c.OwnerID)),
		SocialProfiles:   listJSON{Type: "list", Data: []struct{}{}},
		CreatedAt:        c.CreatedAt,
		UpdatedAt:        c.UpdatedAt,
		SignedUpAt:       &created,
		Location:         locationJSON{Type: "location"},
		CustomAttributes: attrs,
		Tags:             emptyList(c.ID, "tags"),
		Notes:            emptyList(c.ID, "notes"),
		Companies:        emptyList(c.ID, "companies"),
	}
}

func (w *Workspace) meJSON() meJSON {
	return meJSON{
		adminJSON:     toAdminJSON(w.me, "API"),
		EmailVerified: true,
		Avatar:        avatarJSON{Type: "avatar"},
		App: appJSON{
			Type: "app", IDCode: w.app.IDCode, Name: w.app.Name, Region: w.app.Region,
			Timezone: w.tzName, CreatedAt: w.app.CreatedAt,
		},
	}
}

func (w *Workspace) adminListJSON() adminListJSON {
	out := adminListJSON{Type: "admin.list", Admins: make([]adminJSON, len(w.admins))}
	for i, a := range w.admins {
		out.Admins[i] = toAdminJSON(a, "Coach")
	}
	return out
}

func (w *Workspace) dataAttributeListJSON(model string, includeArchived bool) dataAttributeListJSON {
	out := dataAttributeListJSON{Type: "list", Data: []dataAttributeJSON{}}
	for _, a := range w.attrs {
		if (model != "" && a.Model != model) || (a.Archived && !includeArchived) {
			continue
		}
		d := dataAttributeJSON{
			Type: "data_attribute", Model: a.Model, Name: a.Name, FullName: a.FullName,
			Label: a.Label, Description: a.description, DataType: a.DataType,
			APIWritable: a.APIWritable, UIWritable: a.Custom, MessengerWritable: false,
			Custom: a.Custom, Archived: a.Archived,
		}
		if a.Custom {
			id, at := a.id, a.createdAt
			d.ID, d.CreatedAt, d.UpdatedAt, d.AdminID = &id, &at, &at, w.me.ID
		}
		out.Data = append(out.Data, d)
	}
	sort.SliceStable(out.Data, func(i, j int) bool { return out.Data[i].Model < out.Data[j].Model })
	return out
}
