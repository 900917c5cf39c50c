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

// CustomerInsertColumnsWithID are CustomerInsertColumns with the id first: the columns
// filled for customers whose ids were reserved beforehand (CustomerIDReserver).
var CustomerInsertColumnsWithID = append([]string{"id"}, CustomerInsertColumns...)

// CustomerIDReserver is implemented by a store that hands out customer ids ahead of the rows.
// An import whose batches overlap (Batch.Overlap) takes each batch's ids, in the file's
// order, before the batch's rows go in beside the previous batch's: the ids then follow the
// file as they do when batches take turns, and an export (which walks the ids) writes the
// rows in the order they were imported.
type CustomerIDReserver interface {
	// ReserveCustomerIDs returns n new ids, ascending, greater than every id reserved
	// before the call.
	ReserveCustomerIDs(ctx context.Context, n int) ([]int64, error)
}

// InsertCustomers bulk-loads customers in tx, tagged with jobID when it is not nil (the rows
// an import job inserted, which its rollback deletes). Customers with an ID (all of them or
// none) are stored with it; the others get the next ids of the table.
func InsertCustomers(ctx context.Context, tx Tx, jobID *uuid.UUID, rows []Customer) error {
	if l, ok := tx.(CustomerLoader); ok {
		return l.LoadCustomers(ctx, jobID, rows)
	}
	return BulkInsertCustomers(ctx, tx, jobID, rows)
}

// BulkInsertCustomers is InsertCustomers through tx.BulkInsert, value by value.
func BulkInsertCustomers(ctx context.Context, tx Tx, jobID *uuid.UUID, rows []Customer) error {
	var job any
	if jobID != nil {
		job = *jobID
	}
	columns, skip := CustomerInsertColumns, 0
	if len(rows) > 0 && rows[0].ID != 0 {
		columns, skip = CustomerInsertColumnsWithID, 1
	}
	return tx.BulkInsert(ctx, "customers", columns, len(rows), func(i int, dst []any) {
		c := &rows[i]
		if skip == 1 {
			dst[0] = c.ID
		}
		d := dst[skip:]
		d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] =
			c.FirstName, c.LastName, c.Address, c.Email, c.Age, c.Company, c.CreatedAt, job
	})
}
