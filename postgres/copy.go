package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/reins-dev/reins"
)

// copyTypes caches the type OIDs of the columns a bulk insert fills, by table and columns:
// they are read once per process (migrations run before any insert), which spares every
// batch the round trip pgx's CopyFrom spends describing the table.
type copyTypes struct {
	m sync.Map // string → []uint32
}

func (c *copyTypes) lookup(ctx context.Context, tx pgx.Tx, table string, columns []string) ([]uint32, error) {
	key := table + "\x00" + strings.Join(columns, "\x00")
	if v, ok := c.m.Load(key); ok {
		return v.([]uint32), nil
	}
	ident := make([]string, len(columns))
	for i, col := range columns {
		ident[i] = pgx.Identifier{col}.Sanitize()
	}
	// A query of no rows describes the columns' types, as pgx's CopyFrom does.
	sd, err := tx.Conn().Prepare(ctx, "", fmt.Sprintf("SELECT %s FROM %s", strings.Join(ident, ", "), pgx.Identifier{table}.Sanitize()))
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", table, err)
	}
	oids := make([]uint32, len(sd.Fields))
	for i, f := range sd.Fields {
		oids[i] = f.DataTypeOID
	}
	c.m.Store(key, oids)
	return oids, nil
}

// copyHeader starts a binary COPY stream: the signature, no flags, no header extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyChunk is about how many encoded bytes each Read hands to the connection.
const copyChunk = 64 << 10

// pgEpoch is where Postgres' binary timestamps count from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// copyRows encodes rows as Postgres' binary COPY format (the format pgx's CopyFrom sends),
// on demand as the connection reads it, so memory stays at a chunk whatever the batch's
// size. The common values (strings, whole numbers, times, UUIDs, NULL) are encoded here
// without pgx's per-value planning or boxing into an interface; any other value goes
// through pgx's type map, as before.
type copyRows struct {
	types *pgtype.Map
	oids  []uint32
	n     int
	// encode appends row i; encodeRow (values from row) unless a caller knows better.
	encode func(buf []byte, i int) ([]byte, error)
	row    func(i int, dst []any)
	dst    []any
	i      int
	buf    []byte
	off    int
	header bool
	done   bool
}

func (c *copyRows) Read(p []byte) (int, error) {
	for c.off == len(c.buf) {
		if c.done {
			return 0, io.EOF
		}
		c.buf, c.off = c.buf[:0], 0
		if !c.header {
			c.buf, c.header = append(c.buf, copyHeader...), true
		}
		for c.i < c.n && len(c.buf) < copyChunk {
			var err error
			if c.buf, err = c.encode(c.buf, c.i); err != nil {
				return 0, err
			}
			c.i++
		}
		if c.i == c.n {
			c.buf, c.done = binary.BigEndian.AppendUint16(c.buf, 0xffff), true // the trailer
		}
	}
	n := copy(p, c.buf[c.off:])
	c.off += n
	return n, nil
}

func (c *copyRows) encodeRow(buf []byte, i int) ([]byte, error) {
	clear(c.dst)
	c.row(i, c.dst)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(c.dst)))
	for j, v := range c.dst {
		var err error
		if buf, err = c.encodeValue(buf, c.oids[j], v); err != nil {
			return nil, fmt.Errorf("row %d, column %d: %w", i, j+1, err)
		}
	}
	return buf, nil
}

// encodeValue appends one field: its length (-1 for NULL) and its binary value.
func (c *copyRows) encodeValue(buf []byte, oid uint32, v any) ([]byte, error) {
	switch oid {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID:
		if s, ok := v.(string); ok {
			buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
			return append(buf, s...), nil
		}
	case pgtype.Int4OID, pgtype.Int8OID, pgtype.Int2OID:
		var n int64
		switch x := v.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		case int32:
			n = int64(x)
		default:
			return c.encodeOther(buf, oid, v)
		}
		switch {
		case oid == pgtype.Int8OID:
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64(n)), nil
		case oid == pgtype.Int4OID && n >= math.MinInt32 && n <= math.MaxInt32:
			buf = binary.BigEndian.AppendUint32(buf, 4)
			return binary.BigEndian.AppendUint32(buf, uint32(int32(n))), nil
		}
	case pgtype.TimestamptzOID:
		if t, ok := v.(time.Time); ok {
			// As pgx encodes it: microseconds since 2000-01-01 UTC, rounded down.
			us := (t.Unix()-pgEpoch)*1_000_000 + int64(t.Nanosecond())/1000
			buf = binary.BigEndian.AppendUint32(buf, 8)
			return binary.BigEndian.AppendUint64(buf, uint64(us)), nil
		}
	case pgtype.UUIDOID:
		if id, ok := v.(uuid.UUID); ok {
			buf = binary.BigEndian.AppendUint32(buf, 16)
			return append(buf, id[:]...), nil
		}
	}
	return c.encodeOther(buf, oid, v)
}

// encodeOther encodes a value through pgx's type map, for everything encodeValue does not
// know: NULL, pointers, other types, and numbers out of a column's range (pgx's error).
func (c *copyRows) encodeOther(buf []byte, oid uint32, v any) ([]byte, error) {
	if id, ok := v.(uuid.UUID); ok {
		v = pgtype.UUID{Bytes: id, Valid: true} // pgx would encode a uuid.UUID through text
	}
	at := len(buf)
	buf = append(buf, 0, 0, 0, 0)
	out, err := c.types.Encode(oid, pgtype.BinaryFormatCode, v, buf)
	if err != nil {
		return nil, err
	}
	if out == nil {
		binary.BigEndian.PutUint32(buf[at:], math.MaxUint32) // -1: NULL
		return buf[:at+4], nil
	}
	binary.BigEndian.PutUint32(out[at:], uint32(len(out)-at-4))
	return out, nil
}

// customerTypes are the column types LoadCustomers encodes itself, in the order of
// reins.CustomerInsertColumns (migration 001).
var customerTypes = []uint32{pgtype.VarcharOID, pgtype.VarcharOID, pgtype.VarcharOID, pgtype.VarcharOID,
	pgtype.Int4OID, pgtype.VarcharOID, pgtype.TimestamptzOID, pgtype.UUIDOID}

// customerTypesWithID are the types of reins.CustomerInsertColumnsWithID.
var customerTypesWithID = append([]uint32{pgtype.Int8OID}, customerTypes...)

// customerTypesRanged are the types of reins.CustomerInsertColumnsRanged (migration 014's
// job_ranged last).
var customerTypesRanged = append(append([]uint32(nil), customerTypesWithID...), pgtype.BoolOID)

// encodeCustomer appends one customer as a COPY tuple of reins.CustomerInsertColumns (with
// the id first when withID: reins.CustomerInsertColumnsWithID; and job_ranged true last when
// ranged: reins.CustomerInsertColumnsRanged), exactly as encodeValue would encode
// InsertCustomers' values; job is nil for NULL.
func encodeCustomer(buf []byte, c *reins.Customer, job *uuid.UUID, withID, ranged bool) ([]byte, error) {
	if c.Age < math.MinInt32 || c.Age > math.MaxInt32 {
		return nil, fmt.Errorf("age %d is out of the integer range", c.Age)
	}
	switch {
	case ranged:
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(customerTypesRanged)))
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, uint64(c.ID))
	case withID:
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(customerTypesWithID)))
		buf = binary.BigEndian.AppendUint32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, uint64(c.ID))
	default:
		buf = binary.BigEndian.AppendUint16(buf, uint16(len(customerTypes)))
	}
	for _, s := range [...]string{c.FirstName, c.LastName, c.Address, c.Email} {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.BigEndian.AppendUint32(buf, 4)
	buf = binary.BigEndian.AppendUint32(buf, uint32(int32(c.Age)))
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(c.Company)))
	buf = append(buf, c.Company...)
	us := (c.CreatedAt.Unix()-pgEpoch)*1_000_000 + int64(c.CreatedAt.Nanosecond())/1000
	buf = binary.BigEndian.AppendUint32(buf, 8)
	buf = binary.BigEndian.AppendUint64(buf, uint64(us))
	if job == nil {
		buf = binary.BigEndian.AppendUint32(buf, math.MaxUint32)
	} else {
		buf = binary.BigEndian.AppendUint32(buf, 16)
		buf = append(buf, job[:]...)
	}
	if ranged {
		buf = binary.BigEndian.AppendUint32(buf, 1)
		buf = append(buf, 1)
	}
	return buf, nil
}

var _ reins.CustomerIDReserver = (*DB)(nil)

// ReserveCustomerIDs implements reins.CustomerIDReserver: n values of the customers' id
// sequence (migration 001's serial), in one round trip. A sequence hands out each value
// once and never takes it back, so the ids are the caller's whatever happens to its batch.
func (db *DB) ReserveCustomerIDs(ctx context.Context, n int) ([]int64, error) {
	var ids []int64
	if err := db.pool.QueryRow(ctx, `SELECT array_agg(nextval('customers_id_seq'))
		FROM generate_series(1, $1)`, n).Scan(&ids); err != nil {
		return nil, fmt.Errorf("reserve customer ids: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}
