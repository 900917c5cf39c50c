// Package reins holds the domain of the Reins job service: jobs, their statuses and the
// transitions between them, the error type, and the interfaces that the storage and engine
// packages implement.
//
// A Reins job (a UUID, the API object) is executed as a sequence of runs. A run processes
// the job in batches; every batch commits its effects, checkpoint and progress in one
// transaction fenced by the job's run epoch, so a run that lost its claim cannot write.
package reins
