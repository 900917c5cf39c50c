// Package demo generates the deterministic demo customers that `reins seed` loads, the old
// service's `loaddata`.
package demo

import (
	"fmt"
	"time"

	"github.com/reins-dev/reins"
)

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis", "Radia", "Linus", "Sophie", "John", "Hedy", "Tim"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie", "Perlman", "Torvalds", "Wilson", "McCarthy", "Lamarr", "O'Brien"}
	streets    = []string{"Main Street", "High Street", "Elm Avenue", `"The Oaks" Lane`, "Station Road", "Park Row"}
	cities     = []string{"Springfield", "Riverside", "Fairview", "Kingston", "Greenville"}
	companies  = []string{"Acme", "Globex", "Initech", "Smith, Jones & Co", "Umbrella", "Hooli", "Vandelay Industries", "Stark"}
)

// First and Last bound the demo customers' created_at: 2015-01-01 to the end of 2024-12-31.
var (
	First = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	Last  = time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC)
)

// Customer returns demo customer i of n. Creation times spread evenly over First..Last, in
// the order of i, so any date range holds a predictable share of them. Some values hold
// commas and quotes, so exports exercise CSV quoting.
func Customer(i, n int64) reins.Customer {
	span := Last.Sub(First)
	var at time.Time
	if n <= 1 {
		at = First
	} else {
		at = First.Add(time.Duration(float64(span) * float64(i) / float64(n-1))).Truncate(time.Second)
	}
	first, last := firstNames[i%int64(len(firstNames))], lastNames[(i/3)%int64(len(lastNames))]
	return reins.Customer{
		FirstName: first,
		LastName:  last,
		Address:   fmt.Sprintf("%d %s, %s", i%9999+1, streets[i%int64(len(streets))], cities[(i/7)%int64(len(cities))]),
		Email:     fmt.Sprintf("%s.%s.%d@example.com", lower(first), lower(last), i),
		Age:       18 + int(i%70),
		Company:   companies[(i/5)%int64(len(companies))],
		CreatedAt: at,
	}
}

func lower(s string) string {
	b := []byte(s)
	out := b[:0]
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		case c >= 'a' && c <= 'z':
			out = append(out, c)
		}
	}
	return string(out)
}
