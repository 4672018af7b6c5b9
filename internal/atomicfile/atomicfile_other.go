//go:build !linux

package atomicfile

import (
	"errors"
	"os"
)

var errNoUnnamed = errors.New("no unnamed files on this system")

func createUnnamed(string, os.FileMode) (*os.File, error) { return nil, errNoUnnamed }
func unnamedUnsupported(err error) bool                   { return errors.Is(err, errNoUnnamed) }
func linkUnnamed(*os.File, string) (string, error)        { return "", errNoUnnamed }
