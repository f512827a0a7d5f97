package intercom

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

type operation struct {
	Responses map[string]struct {
		Content map[string]struct {
			Example  any `yaml:"example"`
			Examples map[string]struct {
				Value any `yaml:"value"`
			} `yaml:"examples"`
		} `yaml:"content"`
	} `yaml:"responses"`
}

// pathsCache keeps each version's paths, read once: the descriptions are
// large.
var pathsCache sync.Map // version -> map[string]map[string]yaml.Node

// descriptionPaths reads the paths of the project's copy of the
// description of version. A path item also holds shared parameters (a
// list): operations are decoded one by one, when asked for.
func descriptionPaths(t *testing.T, version string) map[string]map[string]yaml.Node {
	t.Helper()
	if p, ok := pathsCache.Load(version); ok {
		return p.(map[string]map[string]yaml.Node)
	}
	data, err := os.ReadFile(filepath.Join("intercomtest", "testdata", "intercom-openapi", version, "api.intercom.io.yaml"))
	require.NoError(t, err)
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(data, &doc))
	pathsCache.Store(version, doc.Paths)
	return doc.Paths
}

// docExample is one documented response example of an operation.
type docExample struct {
	status int
	name   string
	body   []byte
}

// docExamples reads the JSON response examples (example, examples.*.value)
// of the operation method pathRe in the project's copy of the description
// of version.
func docExamples(t *testing.T, version, method, pathRe string) []docExample {
	t.Helper()
	paths := descriptionPaths(t, version)
	re := regexp.MustCompile("^" + pathRe + "$")
	var out []docExample
	found := false
	for path, ops := range paths {
		node, ok := ops[method]
		if !re.MatchString(path) || !ok {
			continue
		}
		found = true
		var op operation
		require.NoError(t, node.Decode(&op), "%s %s", method, path)
		for code, r := range op.Responses {
			status, err := strconv.Atoi(code)
			require.NoError(t, err)
			media, ok := r.Content["application/json"]
			if !ok {
				continue
			}
			add := func(name string, v any) {
				if v == nil {
					return
				}
				b, err := json.Marshal(v)
				require.NoError(t, err, "%s %s %d %s", method, path, status, name)
				out = append(out, docExample{status, name, b})
			}
			add("example", media.Example)
			for name, ex := range media.Examples {
				add(name, ex.Value)
			}
		}
	}
	require.True(t, found, "version %s documents no %s %s", version, method, pathRe)
	sort.Slice(out, func(i, j int) bool {
		if out[i].status != out[j].status {
			return out[i].status < out[j].status
		}
		return out[i].name < out[j].name
	})
	return out
}

// The client decodes every documented example of every supported version
// for the calls the exporter makes: successful answers into its models,
// error answers into an *APIError with the documented code.
func TestClient_DecodesTheDocumentedExamplesOfEverySupportedVersion(t *testing.T) {
	ctx := context.Background()
	q := Filter("updated_at", ">", 1)
	calls := []struct {
		name, method, path string
		call               func(c *Client) (any, error)
		check              func(t *testing.T, example []byte, got any)
	}{
		{"me", "get", `/me`, func(c *Client) (any, error) { return c.Me(ctx) }, func(t *testing.T, ex []byte, got any) {
			var want struct{ App struct{ Timezone string } }
			require.NoError(t, json.Unmarshal(ex, &want))
			assert.Equal(t, want.App.Timezone, got.(Workspace).Timezone)
		}},
		{"admins", "get", `/admins`, func(c *Client) (any, error) { return c.ListAdmins(ctx) }, func(t *testing.T, ex []byte, got any) {
			var want struct{ Admins []struct{ ID, Name string } }
			require.NoError(t, json.Unmarshal(ex, &want))
			require.Len(t, got.([]Admin), len(want.Admins))
			for i, a := range got.([]Admin) {
				assert.Equal(t, want.Admins[i].ID, a.ID)
				assert.Equal(t, want.Admins[i].Name, a.Name)
			}
		}},
		{"data attributes", "get", `/data_attributes`, func(c *Client) (any, error) { return c.ListDataAttributes(ctx, "contact") },
			func(t *testing.T, ex []byte, got any) {
				var want struct {
					Data []struct {
						Name     string `json:"name"`
						DataType string `json:"data_type"`
					}
				}
				require.NoError(t, json.Unmarshal(ex, &want))
				require.Len(t, got.([]DataAttribute), len(want.Data))
				for i, a := range got.([]DataAttribute) {
					assert.Equal(t, want.Data[i].Name, a.Name)
					assert.Equal(t, want.Data[i].DataType, a.DataType)
				}
			}},
		{"contact", "get", `/contacts/\{[a-z_]*id\}`, func(c *Client) (any, error) { return c.GetContact(ctx, "6762f0dd1bb69f9f2193bb83") },
			func(t *testing.T, ex []byte, got any) {
				var want struct{ ID string }
				require.NoError(t, json.Unmarshal(ex, &want))
				assert.Equal(t, want.ID, got.(Contact).ID)
			}},
		{"contacts search", "post", `/contacts/search`, func(c *Client) (any, error) { return c.SearchContactsPage(ctx, q, 150, "") },
			func(t *testing.T, ex []byte, got any) {
				var want struct{ Data []struct{ ID string } }
				require.NoError(t, json.Unmarshal(ex, &want))
				require.Len(t, got.(SearchPage[Contact]).Items, len(want.Data))
				for i, c := range got.(SearchPage[Contact]).Items {
					assert.Equal(t, want.Data[i].ID, c.ID)
				}
			}},
		{"conversations search", "post", `/conversations/search`, func(c *Client) (any, error) { return c.SearchConversationsPage(ctx, q, 150, "") },
			func(t *testing.T, ex []byte, got any) {
				var want struct{ Conversations []struct{ ID string } }
				require.NoError(t, json.Unmarshal(ex, &want))
				require.Len(t, got.(SearchPage[Conversation]).Items, len(want.Conversations))
				for i, c := range got.(SearchPage[Conversation]).Items {
					assert.Equal(t, want.Conversations[i].ID, c.ID)
				}
			}},
	}
	for _, version := range SupportedVersions {
		t.Run(version, func(t *testing.T) {
			for _, cl := range calls {
				examples := docExamples(t, version, cl.method, cl.path)
				require.NotEmpty(t, examples, "%s documents no example", cl.name)
				for _, ex := range examples {
					t.Run(cl.name+" "+strconv.Itoa(ex.status)+" "+ex.name, func(t *testing.T) {
						c, _ := newTestServer(t, []Option{WithRetry(1, time.Millisecond, time.Millisecond)}, reply(ex.status, string(ex.body)))
						got, err := cl.call(c)
						if ex.status < 300 {
							require.NoError(t, err, "example: %s", ex.body)
							cl.check(t, ex.body, got)
							return
						}
						var apiErr *APIError
						require.True(t, errors.As(err, &apiErr), "an error answer gives an *APIError, got %v", err)
						assert.Equal(t, ex.status, apiErr.Status)
						var want struct {
							Errors []struct{ Code string }
						}
						require.NoError(t, json.Unmarshal(ex.body, &want))
						if len(want.Errors) > 0 {
							require.NotEmpty(t, apiErr.Errors, "example: %s", ex.body)
							assert.Equal(t, want.Errors[0].Code, apiErr.Errors[0].Code)
						}
					})
				}
			}
		})
	}
}
