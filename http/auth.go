package http

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/google/uuid"

	"github.com/reins-dev/reins"
)

// Tokens are the API tokens a server accepts, each naming the tenant it acts for. Only the
// tokens' SHA-256 digests are kept: a memory dump or a log of the value shows no token.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	digest [sha256.Size]byte
	tenant string
}

// MinTokenLength is the shortest token accepted: a token is a secret, not a password
// someone types.
const MinTokenLength = 16

// tenantPattern is what a tenant's name may be: it is stored as every job's owner and shown
// in logs, so it is short and plain.
var tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ParseTokenList reads the REINS_API_TOKENS form: "tenant:token" entries separated by
// commas. source names where the list came from, for error messages; an error never
// contains a token.
func ParseTokenList(list, source string) (*Tokens, error) {
	return parseTokens(strings.Split(list, ","), source, "entry")
}

// ParseTokenFile reads the --api-tokens-file form: one "tenant:token" a line; blank lines
// and lines starting with # are skipped.
func ParseTokenFile(text, source string) (*Tokens, error) {
	return parseTokens(strings.Split(text, "\n"), source, "line")
}

func parseTokens(items []string, source, unit string) (*Tokens, error) {
	t := &Tokens{}
	for i, item := range items {
		item = strings.TrimSpace(item)
		if item == "" || strings.HasPrefix(item, "#") {
			continue
		}
		where := fmt.Sprintf("%s %s %d", source, unit, i+1)
		tenant, token, ok := strings.Cut(item, ":")
		tenant, token = strings.TrimSpace(tenant), strings.TrimSpace(token)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s: want tenant:token", where)
		case !tenantPattern.MatchString(tenant):
			return nil, fmt.Errorf("%s: the tenant name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", where)
		case len(token) < MinTokenLength:
			return nil, fmt.Errorf("%s (tenant %s): the token must be at least %d characters", where, tenant, MinTokenLength)
		case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return nil, fmt.Errorf("%s (tenant %s): the token must not contain spaces or control characters", where, tenant)
		}
		digest := sha256.Sum256([]byte(token))
		for _, e := range t.entries {
			if e.digest == digest {
				return nil, fmt.Errorf("%s (tenant %s): the same token is given twice (also for tenant %s)", where, tenant, e.tenant)
			}
		}
		t.entries = append(t.entries, tokenEntry{digest: digest, tenant: tenant})
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("%s: no tenant:token entries", source)
	}
	return t, nil
}

// Merge returns the tokens of t and u together (either may be nil).
func (t *Tokens) Merge(u *Tokens) (*Tokens, error) {
	switch {
	case t == nil:
		return u, nil
	case u == nil:
		return t, nil
	}
	out := &Tokens{entries: append([]tokenEntry(nil), t.entries...)}
	for _, e := range u.entries {
		for _, have := range out.entries {
			if have.digest == e.digest {
				return nil, fmt.Errorf("the same token is given twice (tenants %s and %s)", have.tenant, e.tenant)
			}
		}
		out.entries = append(out.entries, e)
	}
	return out, nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// Tenants lists the tenants, once each, in the order given.
func (t *Tokens) Tenants() []string {
	var out []string
	for _, e := range t.entries {
		if !contains(out, e.tenant) {
			out = append(out, e.tenant)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// tenant returns the tenant of token. Every entry is compared, in constant time, so the
// answer's timing does not tell how close a guess came.
func (t *Tokens) tenant(token string) (string, bool) {
	digest := sha256.Sum256([]byte(token))
	found := ""
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(digest[:], e.digest[:]) == 1 {
			found = e.tenant
		}
	}
	return found, found != ""
}

// ownJob reads the job id of the caller's tenant: another tenant's job does not exist for
// this caller (ENOTFOUND, the same answer as for an id never used).
func (s *Server) ownJob(r *http.Request, id uuid.UUID) (*reins.Job, error) {
	job, err := s.engine.Job(r.Context(), id)
	if err == nil && job.Owner != s.owner(r) {
		err = reins.Errorf(reins.ENOTFOUND, "no job %s", id)
	}
	return job, err
}

// tenantKey is the request context's key for the authenticated tenant.
type tenantKey struct{}

// publicPath reports whether path is served without a token: health, the API's docs, and
// the dashboard's page and assets (the page asks for a token itself). /metrics has a token
// of its own (metricsToken).
func publicPath(path string) bool {
	if path == "/" || strings.HasPrefix(path, "/ui/") || strings.HasPrefix(path, "/api/v1/docs/") {
		return true
	}
	switch strings.TrimSuffix(path, "/") {
	case "/healthz", "/readyz", "/api/v1/docs", "/api/v1/openapi.json", "/api/v1/openapi.yaml", "/ui":
		return true
	}
	return false
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authenticate checks the request's token and returns the request carrying its tenant, or
// answers 401 itself (ok false). With no tokens configured every request passes and acts
// for reins.DefaultOwner.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if strings.TrimSuffix(r.URL.Path, "/") == "/metrics" {
		if s.guard.metricsDigest == nil {
			return r, true
		}
		token, _ := bearer(r)
		digest := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(digest[:], s.guard.metricsDigest) == 1 {
			return r, true
		}
		s.unauthorized(w, r, "/metrics needs its token: send Authorization: Bearer <metrics token>")
		return nil, false
	}
	if s.guard.tokens == nil || publicPath(r.URL.Path) {
		return r, true
	}
	token, ok := bearer(r)
	if !ok {
		s.unauthorized(w, r, "an API token is required: send Authorization: Bearer <token>")
		return nil, false
	}
	tenant, ok := s.guard.tokens.tenant(token)
	if !ok {
		s.unauthorized(w, r, "the API token is not valid")
		return nil, false
	}
	return r.WithContext(context.WithValue(r.Context(), tenantKey{}, tenant)), true
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="reins"`)
	s.error(w, r, reins.Errorf(reins.EUNAUTHORIZED, "%s", msg))
}

// tenantOf is the tenant a request authenticated as; reins.DefaultOwner when Reins runs
// open (no tokens).
func tenantOf(r *http.Request) string {
	if t, ok := r.Context().Value(tenantKey{}).(string); ok {
		return t
	}
	return reins.DefaultOwner
}

// crossSite reports whether a browser marked the request as sent from another site. Only
// browsers send Sec-Fetch-Site; a client that sends none (curl, pipelines) is not refused.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return false
	}
	return true
}

// protect answers the request itself when it must not go on: no valid token, or a
// state-changing request another site made a browser send. It returns the request to
// serve, carrying the tenant.
func (s *Server) protect(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	// Cross-site first: a forged request must not learn whether the visitor holds a token.
	if err := s.guard.crossOrigin.Check(r); err != nil {
		s.error(w, r, reins.Errorf(reins.EFORBIDDEN, "cross-origin %s refused: a state-changing request must come from this site or a non-browser client", r.Method))
		return nil, false
	}
	return s.authenticate(w, r)
}

// refuseCrossSiteGET answers 403 for a GET that creates a job (the old API's export and
// new-job) when a browser sent it from another site; it reports whether it did.
// http.CrossOriginProtection lets every GET through, as GETs should be safe; these are not.
func (s *Server) refuseCrossSiteGET(w http.ResponseWriter, r *http.Request) bool {
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || !crossSite(r) {
		return false
	}
	s.error(w, r, reins.Errorf(reins.EFORBIDDEN, "cross-site GET %s refused: it creates a job; send it from this site or a non-browser client", r.URL.Path))
	return true
}
