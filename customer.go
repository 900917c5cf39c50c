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

// CustomerInsertColumnsRanged are CustomerInsertColumnsWithID with job_ranged last: the
// columns InsertRangedCustomers fills.
var CustomerInsertColumnsRanged = append(append([]string(nil), CustomerInsertColumnsWithID...), "job_ranged")

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
	return insertCustomers(ctx, tx, jobID, false, rows)
}

// InsertRangedCustomers bulk-loads in tx an import job's customers whose ids the job reserved
// (CustomerIDReserver: every row has its ID, ascending), marked job_ranged, and records the
// runs of consecutive ids among them in reins_job_ranges. The job's rollback finds these rows
// by those ranges on the primary key, so the partial index on customers.job_id, which the
// rows of earlier releases still need, leaves them out: an import no longer writes an index
// entry a row for its rollback (migration 014; docs/architecture.md, "Rollback by
// compensation").
func InsertRangedCustomers(ctx context.Context, tx Tx, jobID uuid.UUID, rows []Customer) error {
	if len(rows) == 0 {
		return nil
	}
	if err := insertCustomers(ctx, tx, &jobID, true, rows); err != nil {
		return err
	}
	ranges := idRanges(rows)
	return tx.BulkInsert(ctx, "reins_job_ranges", []string{"job_id", "lo", "hi"}, len(ranges), func(i int, dst []any) {
		dst[0], dst[1], dst[2] = jobID, ranges[i][0], ranges[i][1]
	})
}

// idRanges returns the runs of consecutive ids of rows, whose ids ascend, as [lo, hi] pairs.
func idRanges(rows []Customer) [][2]int64 {
	var ranges [][2]int64
	for _, c := range rows {
		if n := len(ranges); n > 0 && ranges[n-1][1]+1 == c.ID {
			ranges[n-1][1] = c.ID
			continue
		}
		ranges = append(ranges, [2]int64{c.ID, c.ID})
	}
	return ranges
}

func insertCustomers(ctx context.Context, tx Tx, jobID *uuid.UUID, ranged bool, rows []Customer) error {
	if l, ok := tx.(CustomerLoader); ok {
		return l.LoadCustomers(ctx, jobID, ranged, rows)
	}
	return BulkInsertCustomers(ctx, tx, jobID, ranged, rows)
}

// BulkInsertCustomers is InsertCustomers (InsertRangedCustomers' rows, when ranged) through
// tx.BulkInsert, value by value.
func BulkInsertCustomers(ctx context.Context, tx Tx, jobID *uuid.UUID, ranged bool, rows []Customer) error {
	var job any
	if jobID != nil {
		job = *jobID
	}
	columns, skip := CustomerInsertColumns, 0
	switch {
	case ranged:
		columns, skip = CustomerInsertColumnsRanged, 1
	case len(rows) > 0 && rows[0].ID != 0:
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
		if ranged {
			d[8] = true
		}
	})
}
