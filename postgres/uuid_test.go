package postgres

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestUUIDBinary checks that job ids travel as uuid's 16 bytes both ways (not formatted and
// parsed as text through driver.Valuer and sql.Scanner), and that values, NULLs and arrays
// come back as Postgres stored them.
func TestUUIDBinary(t *testing.T) {
	db := openScratch(t)
	ctx := context.Background()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	m := conn.Conn().TypeMap()
	if _, ok := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, uuid.UUID{}).(encodeUUID); !ok {
		t.Errorf("a uuid.UUID parameter is encoded by %T, not as 16 bytes", m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, uuid.UUID{}))
	}
	var target uuid.UUID
	if _, ok := m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, &target).(scanUUID); !ok {
		t.Errorf("a uuid column is scanned into *uuid.UUID by %T, not from its 16 bytes", m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, &target))
	}

	a, b := uuid.New(), uuid.New()
	var text string
	var back uuid.UUID
	var ptr, null *uuid.UUID
	if err := conn.QueryRow(ctx, `SELECT $1::uuid::text, $1::uuid, $2::uuid, NULL::uuid`, a, &b).Scan(&text, &back, &ptr, &null); err != nil {
		t.Fatal(err)
	}
	if text != a.String() || back != a || ptr == nil || *ptr != b || null != nil {
		t.Errorf("got %s, %s, %v, %v; want %s, %s, %s, nil", text, back, ptr, null, a, a, b)
	}
	var isNull bool
	if err := conn.QueryRow(ctx, `SELECT $1::uuid IS NULL`, (*uuid.UUID)(nil)).Scan(&isNull); err != nil || !isNull {
		t.Errorf("a nil *uuid.UUID parameter: IS NULL = %v, %v; want true", isNull, err)
	}
	if err := conn.QueryRow(ctx, `SELECT NULL::uuid`).Scan(&back); err != nil || back != a {
		t.Errorf("scanning NULL into a uuid.UUID holding %s: %s, %v; want it unchanged, as uuid.UUID's Scan leaves it", a, back, err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM unnest($1::uuid[]) u WHERE u = ANY($2)`,
		[]uuid.UUID{a, b, uuid.New()}, []uuid.UUID{a, b}).Scan(&n); err != nil || n != 2 {
		t.Errorf("arrays of uuid.UUID: %d matched (%v), want 2", n, err)
	}
	var ids []uuid.UUID
	if err := conn.QueryRow(ctx, `SELECT ARRAY[$1::uuid, $2::uuid]`, a, b).Scan(&ids); err != nil || len(ids) != 2 || ids[0] != a || ids[1] != b {
		t.Errorf("scanning a uuid[]: %v (%v), want [%s %s]", ids, err, a, b)
	}
}
