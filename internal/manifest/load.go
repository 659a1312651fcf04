package manifest

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Stdin is the path that stands for standard input, as in `kubectl apply -f -`.
const Stdin = "-"

// stdinName is how standard input is named in sources and errors.
const stdinName = "stdin"

// manifestExtensions are the file names a folder walk reads; other files in a folder (READMEs,
// scripts) are not manifests.
var manifestExtensions = map[string]bool{".yaml": true, ".yml": true, ".json": true}

// LoadPaths reads every path: a file, a folder (every .yaml, .yml and .json file below it,
// skipping folders whose name starts with "."), or "-" for stdin. Problems are collected across all
// paths, so that one run reports every bad document; the error joins *Error values.
func (s *Set) LoadPaths(paths []string, stdin io.Reader) error {
	var errs []error
	readStdin := false
	for _, p := range paths {
		if p == Stdin {
			if readStdin {
				continue
			}
			readStdin = true
			data, err := io.ReadAll(stdin)
			if err != nil {
				errs = append(errs, &Error{File: stdinName, Err: fmt.Errorf("reading standard input: %w", err)})
				continue
			}
			if err := s.AddBytes(stdinName, data); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if err := s.loadPath(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Set) loadPath(root string) error {
	info, err := os.Stat(root)
	if err != nil {
		return &Error{File: root, Err: pathError(err)}
	}
	if !info.IsDir() {
		return s.loadFile(root)
	}
	var errs []error
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, &Error{File: path, Err: pathError(err)})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir // .git, .github: not manifests
			}
			return nil
		}
		if !manifestExtensions[strings.ToLower(filepath.Ext(path))] {
			return nil
		}
		if err := s.loadFile(path); err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, &Error{File: root, Err: walkErr})
	}
	return errors.Join(errs...)
}

func (s *Set) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return &Error{File: path, Err: pathError(err)}
	}
	return s.AddBytes(path, data)
}

// pathError drops the path from *fs.PathError, since the *Error already names it.
func pathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
