package postgres

import (
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// uuidCodec is pgx's uuid codec taught google/uuid's UUID, which every job id is. Without it
// pgx sends a uuid.UUID through its driver.Valuer (formatted as text, then parsed back into
// the binary it was) and scans one through its sql.Scanner (formatted, then parsed): on a
// GET job-status that was about an eighth of the server's CPU per request
// (docs/benchmarks.md "job-status: where the time went"). This codec copies the 16 bytes
// both ways. NULL is nil for a *uuid.UUID and leaves a uuid.UUID as it was, as
// uuid.UUID's own Scan does.
type uuidCodec struct{ pgtype.UUIDCodec }

// registerUUID installs uuidCodec for Postgres' uuid type in a connection's type map.
func registerUUID(m *pgtype.Map) {
	m.RegisterType(&pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}})
}

func (c uuidCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if format == pgtype.BinaryFormatCode {
		switch value.(type) {
		case uuid.UUID:
			return encodeUUID{}
		case *uuid.UUID:
			return encodeUUIDPtr{}
		}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if format == pgtype.BinaryFormatCode {
		switch target.(type) {
		case *uuid.UUID:
			return scanUUID{}
		case **uuid.UUID:
			return scanUUIDPtr{}
		}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeUUID struct{}

func (encodeUUID) Encode(value any, buf []byte) ([]byte, error) {
	u := value.(uuid.UUID)
	return append(buf, u[:]...), nil
}

type encodeUUIDPtr struct{}

func (encodeUUIDPtr) Encode(value any, buf []byte) ([]byte, error) {
	u := value.(*uuid.UUID)
	if u == nil {
		return nil, nil // NULL
	}
	return append(buf, u[:]...), nil
}

type scanUUID struct{}

func (scanUUID) Scan(src []byte, target any) error {
	if src == nil {
		return nil
	}
	if len(src) != 16 {
		return fmt.Errorf("invalid length for uuid: %d", len(src))
	}
	copy(target.(*uuid.UUID)[:], src)
	return nil
}

type scanUUIDPtr struct{}

func (scanUUIDPtr) Scan(src []byte, target any) error {
	p := target.(**uuid.UUID)
	if src == nil {
		*p = nil
		return nil
	}
	u := new(uuid.UUID)
	if err := (scanUUID{}).Scan(src, u); err != nil {
		return err
	}
	*p = u
	return nil
}
