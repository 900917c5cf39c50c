package postgres_test

import (
	"testing"

	"github.com/reins-dev/reins/enginetest"
	"github.com/reins-dev/reins/reinstest"
)

func TestBehaviour(t *testing.T) {
	t.Parallel()
	if reinstest.DatabaseURL(t) == "" {
		t.Skip("TEST_DATABASE_URL is not set (CI sets it, and fails without it)")
	}
	enginetest.Exercise(t, reinstest.OpenPostgres)
	enginetest.ExerciseImport(t, reinstest.OpenPostgres)
	enginetest.ExerciseRecovery(t, reinstest.OpenPostgres)
	enginetest.ExerciseSnapshot(t, reinstest.OpenPostgres)
	enginetest.ExerciseKinds(t, reinstest.OpenPostgres)
	enginetest.ExerciseStory(t, reinstest.OpenPostgres)
	enginetest.ExerciseWatching(t, reinstest.OpenPostgres)
}
