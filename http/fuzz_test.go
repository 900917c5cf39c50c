package http

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/reins-dev/reins"
)

// FuzzBodyValues decodes any body as any media type: it is read or refused with a 4xx
// code and a short message, never an internal error or a panic.
func FuzzBodyValues(f *testing.F) {
	f.Add("application/json", []byte(`{"status": "PAUSE", "mapping": {"a": "email"}, "n": 5}`))
	f.Add("application/x-www-form-urlencoded", []byte("status=%zz&status=PAUSE"))
	f.Add("", []byte(`{"status":`))
	f.Add("multipart/form-data; boundary=XX", []byte("--XX\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\nPAUSE\r\n--XX--\r\n"))
	f.Add("text/csv; charset=\xff", []byte("a,b"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/job-status/x/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		_, err := bodyValues(r)
		if err == nil {
			return
		}
		switch reins.ErrorCode(err) {
		case reins.EINVALID, reins.EUNSUPPORTED, reins.ETOOLARGE:
		default:
			t.Fatalf("got %v, want a client error", err)
		}
		if len(reins.ErrorMessage(err)) > 1000 {
			t.Fatalf("a %d-byte error", len(reins.ErrorMessage(err)))
		}
	})
}

// FuzzJobID parses any {job_id}: a job id is a UUID, anything else is a job not found,
// told in a message that does not echo a long id whole.
func FuzzJobID(f *testing.F) {
	f.Add("8d156882-c470-4948-b1bc-275987d2e244")
	f.Add("{8d156882-c470-4948-b1bc-275987d2e244}")
	f.Add("urn:uuid:8d156882c4704948b1bc275987d2e244")
	f.Add("../../etc/passwd\x00\xff")
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.SetPathValue("job_id", raw)
		_, err := jobID(r)
		if err == nil {
			return
		}
		if reins.ErrorCode(err) != reins.ENOTFOUND {
			t.Fatalf("got %v, want ENOTFOUND", err)
		}
		if len(reins.ErrorMessage(err)) > 300 {
			t.Fatalf("a %d-byte message echoes the id", len(reins.ErrorMessage(err)))
		}
	})
}

// FuzzFileName cleans any client file name into one that every store can keep and every
// header can carry.
func FuzzFileName(f *testing.F) {
	f.Add("a\x00b\xff.csv")
	f.Add("../../etc/passwd")
	f.Add("C:\\Users\\x\\report.csv")
	f.Fuzz(func(t *testing.T, raw string) {
		name := fileName(raw)
		if name == "" || len([]rune(name)) > maxFileName || bytes.ContainsAny([]byte(name), "\x00/\\\r\n") {
			t.Fatalf("fileName(%q) = %q", raw, name)
		}
	})
}

// FuzzTokens parses any token list: an error never shows a token.
//
// Searching the error for each token mistakes the message's own text for a token (a token
// "000000000000000):" is in "(tenant 000000000000000): the token must…" when the tenant is
// another entry's). So every token's bytes are masked with 0xfe, a byte no tenant name and no
// message text can hold, keeping its length and its spaces and control characters so the
// parser takes the same path; the error of the masked list must hold no 0xfe.
func FuzzTokens(f *testing.F) {
	f.Add("acme:0123456789abcdef,globex:fedcba9876543210")
	f.Add("acme:short,acme:0123456789abcdef")
	f.Add("bad tenant:0123456789abcdef0123")
	f.Fuzz(func(t *testing.T, list string) {
		if _, err := ParseTokenList(list, "REINS_API_TOKENS"); err == nil {
			return
		}
		masked := maskTokens(list)
		_, err := ParseTokenList(masked, "REINS_API_TOKENS")
		if err != nil && strings.Contains(err.Error(), "\xfe") {
			t.Fatalf("the error %q for %q shows a token", err, masked)
		}
	})
}

// maskTokens replaces the bytes of every token in a token list with 0xfe, all but those of
// runes the parser reads as spaces or control characters (which it trims or refuses).
func maskTokens(list string) string {
	items := strings.Split(list, ",")
	for i, item := range items {
		tenant, token, ok := strings.Cut(item, ":")
		if !ok {
			continue
		}
		b := []byte(token)
		for j := 0; j < len(b); {
			r, size := utf8.DecodeRune(b[j:])
			if !unicode.IsSpace(r) && r > ' ' && r != 0x7f {
				for k := j; k < j+size; k++ {
					b[k] = 0xfe
				}
			}
			j += size
		}
		items[i] = tenant + ":" + string(b)
	}
	return strings.Join(items, ",")
}
