package sqlite_test

import (
	"testing"

	"github.com/reins-dev/reins/enginetest"
	"github.com/reins-dev/reins/reinstest"
)

func TestBehaviour(t *testing.T) {
	t.Parallel()
	enginetest.Exercise(t, reinstest.OpenSQLite)
	enginetest.ExerciseImport(t, reinstest.OpenSQLite)
	enginetest.ExerciseRecovery(t, reinstest.OpenSQLite)
	enginetest.ExerciseSnapshot(t, reinstest.OpenSQLite)
	enginetest.ExerciseKinds(t, reinstest.OpenSQLite)
	enginetest.ExerciseStory(t, reinstest.OpenSQLite)
	enginetest.ExerciseWatching(t, reinstest.OpenSQLite)
}
