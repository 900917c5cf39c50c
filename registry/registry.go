// Package registry registers the job kinds Reins runs: the one place a kind is added, used
// by the command line and the tests alike (docs/job-kinds.md).
package registry

import (
	"github.com/reins-dev/reins"
	"github.com/reins-dev/reins/blob"
	"github.com/reins-dev/reins/csvexport"
	"github.com/reins-dev/reins/csvimport"
	"github.com/reins-dev/reins/teams"
)

// Deps are what the kinds work with.
type Deps struct {
	Store reins.Store
	Blob  *blob.Store
	// ExportConfirmOver is the export guard's server-wide threshold in rows (0: off).
	ExportConfirmOver int64
}

// New returns the registry of every kind, built on deps.
func New(d Deps) *reins.Registry {
	return reins.NewRegistry(
		&csvexport.Kind{Store: d.Store, Blob: d.Blob, ConfirmOver: d.ExportConfirmOver},
		&csvimport.Kind{Store: d.Store, Blob: d.Blob},
		&teams.Kind{Store: d.Store, Blob: d.Blob},
	)
}
