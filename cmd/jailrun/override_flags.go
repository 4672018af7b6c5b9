package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jailrun/jailrun/policy"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// overrideFlags put settings on top of the policy for one run (--memory 64M, --bind /src:/box, ...). They
// may loosen the policy: whoever runs the CLI owns the host. They are applied in the order given, checked
// like a policy file, and listed in the result's policy.overrides.
type overrideFlags struct {
	list []policy.Override
}

// overrideValue is one repeatable or single-valued flag that appends to the shared, ordered list.
type overrideValue struct {
	f        *overrideFlags
	key      string
	typeName string
}

func (v *overrideValue) String() string { return "" }
func (v *overrideValue) Type() string   { return v.typeName }
func (v *overrideValue) Set(s string) error {
	if v.key == "bind" {
		// A relative host path is the operator's current directory, as for --policy and --result.
		if src, rest, ok := strings.Cut(s, ":"); ok && src != "" && !filepath.IsAbs(src) {
			if abs, err := filepath.Abs(src); err == nil {
				s = abs + ":" + rest
			}
		}
	}
	v.f.list = append(v.f.list, policy.Override{Key: v.key, Value: s, Flag: "--" + v.key})
	return nil
}

func addOverrideFlags(c *cobra.Command, f *overrideFlags) {
	for _, o := range policy.OverrideSpecs {
		if o.CLI {
			c.Flags().Var(&overrideValue{f: f, key: o.Key, typeName: o.Arg}, o.Key, o.Usage)
		}
	}
}

// apply puts the overrides on s. A value the policy language refuses is a usage error (exit 2) in one line;
// a bind source that does not exist is refused here rather than as a setup failure.
func (f *overrideFlags) apply(s *policy.Settings) (*policy.Settings, error) {
	if len(f.list) == 0 {
		return s, nil
	}
	for _, o := range f.list {
		if o.Key != "bind" {
			continue
		}
		src, _, _ := strings.Cut(o.Value, ":")
		if _, err := os.Stat(src); err != nil && src != "" {
			return nil, fail(exitUsage, "--bind %s: %v", shorten(o.Value), unwrapPath(err))
		}
	}
	out, err := policy.ApplyOverrides(s, f.list)
	if err != nil {
		var inv *policy.InvalidError
		if errors.As(err, &inv) {
			lines := make([]string, len(inv.Problems))
			for i, p := range inv.Problems {
				lines[i] = p.String()
			}
			return nil, fail(exitUsage, "%s", strings.Join(lines, "; "))
		}
		return nil, fail(exitUsage, "%v", err)
	}
	return out, nil
}

func (f *overrideFlags) given() bool { return len(f.list) > 0 }

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

var _ pflag.Value = (*overrideValue)(nil)
