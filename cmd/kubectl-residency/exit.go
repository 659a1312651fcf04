package main

import (
	"errors"
	"fmt"
	"io"
)

// Exit codes.
const (
	exitOK = 0
	// exitFindings: check found at least one error-level finding; status or explain could not
	// get what they asked the cluster for.
	exitFindings = 1
	// exitBadInput: the input could not be read (bad YAML, missing file) or the command line is
	// wrong.
	exitBadInput = 2
)

// exitError carries an exit code out of a command. An exitError with a nil err has already said
// everything it had to say.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks a command line that is wrong.
func usageError(format string, args ...any) error {
	return &exitError{code: exitBadInput, err: fmt.Errorf(format, args...)}
}

// requestError marks a request to the cluster that failed.
func requestError(err error) error {
	return &exitError{code: exitFindings, err: err}
}

// exitCode turns a command's error into the process's exit code, printing the message. Errors
// that carry no code come from cobra's own flag and argument parsing: usage errors.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "error: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "error: %v\nSee 'kubectl residency --help'.\n", err)
	return exitBadInput
}
