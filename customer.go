package reins

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Customer is one row of the customers table.
type Customer struct {
	ID        int64
	FirstName string
	LastName  string
	Address   string
	Email     string
	Age       int
	Company   string
	CreatedAt time.Time
}

// CustomerColumns is the CSV header of a customers export, in order.
var CustomerColumns = []string{"first_name", "last_name", "address", "email", "age", "company"}

// CustomerColumnsWithCreatedAt adds created_at, in RFC 3339, for exports meant to be
// imported back unchanged.
var CustomerColumnsWithCreatedAt = append(append([]string(nil), CustomerColumns...), "created_at")

// ExportTimeLayout is how an export writes created_at: RFC 3339 in UTC with microseconds,
// which an import reads back unchanged.
const ExportTimeLayout = "2006-01-02T15:04:05.000000Z"

// IsFormula reports whether a spreadsheet would run a text cell as a formula: it starts with
// =, +, -, @, a tab or a carriage return (OWASP's list for CSV injection).
func IsFormula(v string) bool {
	return v != "" && strings.IndexByte("=+-@\t\r", v[0]) >= 0
}

// CustomerInsertColumns are the columns InsertCustomers fills, in the order a
// CustomerLoader fills them.
var CustomerInsertColumns = []string{"first_name", "last_name", "address", "email", "age", "company", "created_at", "job_id"}

// InsertCustomers bulk-loads customers in tx, tagged with jobID when it is not nil (the rows
// an import job inserted, which its rollback deletes).
func InsertCustomers(ctx context.Context, tx Tx, jobID *uuid.UUID, rows []Customer) error {
	if l, ok := tx.(CustomerLoader); ok {
		return l.LoadCustomers(ctx, jobID, rows)
	}
	var job any
	if jobID != nil {
		job = *jobID
	}
	return tx.BulkInsert(ctx, "customers", CustomerInsertColumns, len(rows), func(i int, dst []any) {
		c := &rows[i]
		dst[0], dst[1], dst[2], dst[3], dst[4], dst[5], dst[6], dst[7] =
			c.FirstName, c.LastName, c.Address, c.Email, c.Age, c.Company, c.CreatedAt, job
	})
}
