package csvimport

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"

	"github.com/reins-dev/reins"
)

// plausibleEmailSpec is PlausibleEmail as first written: the definition its one-pass ASCII
// check must agree with.
func plausibleEmailSpec(v string) bool {
	if strings.IndexFunc(v, unicode.IsSpace) >= 0 || strings.Count(v, "@") != 1 || reins.IsFormula(v) {
		return false
	}
	local, domain, _ := strings.Cut(v, "@")
	dot := strings.IndexByte(domain, '.')
	return local != "" && dot > 0 && !strings.HasSuffix(domain, ".")
}

// TestPlausibleEmail checks PlausibleEmail against its definition on chosen addresses and
// on random strings of the characters that decide it, ASCII and not.
func TestPlausibleEmail(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"ada@example.com", true}, {"a@b.c", true}, {"ada@example.com.", false}, {"ada@.example", false},
		{"@example.com", false}, {"ada@example", false}, {"ada@@example.com", false}, {"a@b@example.com", false},
		{"ada @example.com", false}, {"ada@example.com\t", false}, {"ada\v@example.com", false},
		{"=ada@example.com", false}, {"-ada@example.com", false}, {"", false}, {"Zoë@example.com", true},
		{"ada\u00a0@example.com", false}, {"ada@exa\u2003mple.com", false}, {"ada\u0085@example.com", false},
	} {
		if got := PlausibleEmail(c.v); got != c.want || got != plausibleEmailSpec(c.v) {
			t.Errorf("PlausibleEmail(%q) = %v, want %v", c.v, got, c.want)
		}
	}
	alphabet := []string{"a", "Z", "0", ".", "@", " ", "\t", "\n", "\v", "\f", "\r", "=", "+", "-", "é", "\u00a0", "\u2003", "\u0085", "\x80", "\xff"}
	rng := rand.New(rand.NewPCG(3, 4))
	plausible := 0
	for i := 0; i < 200000; i++ {
		var sb strings.Builder
		for range rng.IntN(9) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		v := sb.String()
		want := plausibleEmailSpec(v)
		if got := PlausibleEmail(v); got != want {
			t.Fatalf("PlausibleEmail(%q) = %v, its definition says %v", v, got, want)
		}
		if want {
			plausible++
		}
	}
	if plausible == 0 {
		t.Fatal("no random string was a plausible address: the test proves nothing")
	}
}

// BenchmarkPlausibleEmail checks an importer's kind of address: the one-pass ASCII check,
// and the Unicode path every address took before it.
func BenchmarkPlausibleEmail(b *testing.B) {
	const v = "import.123456@bench.example.com"
	b.Run("ascii", func(b *testing.B) {
		for b.Loop() {
			if !PlausibleEmail(v) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("unicode", func(b *testing.B) {
		for b.Loop() {
			if !plausibleEmail(v) {
				b.Fatal("refused")
			}
		}
	})
}
