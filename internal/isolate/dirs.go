package isolate

import (
	"path"
	"strings"
)

// DirRule is one -d/--dir rule: "in=out[:opts]", "dir[:opts]" (bind /dir at dir) or "in=" (remove the rule
// for in). In is the path inside the sandbox, cleaned and absolute.
type DirRule struct {
	In, Out string
	Remove  bool
	RW      bool
	Dev     bool
	NoExec  bool
	Maybe   bool
	FS      bool
	Tmp     bool
	NoRec   bool
}

// ParseDirRule reads one directory rule as isolate does: options after the first ':', the outside path
// after the first '='. isolate separates several options with ':' ("/x:rw:noexec"); jailrun also accepts
// ',' ("/x:rw,noexec"). isolate's usage text gives "--dir=/proc:proc:fs" as its example of fs, which
// isolate itself refuses (it takes "proc" for an unknown option); jailrun reads an unknown first option of an
// fs rule without '=' as the filesystem type, so that the example works as written.
func ParseDirRule(v string) (DirRule, error) {
	spec, optText, hasOpts := strings.Cut(v, ":")
	in, out, hasOut := strings.Cut(spec, "=")
	bad := func(why string) (DirRule, error) {
		return DirRule{}, usagef("Invalid directory rule specified: %s (%s)", v, why)
	}
	r := DirRule{}
	var unknown []string
	if hasOpts {
		for _, o := range strings.FieldsFunc(optText, func(c rune) bool { return c == ':' || c == ',' }) {
			switch o {
			case "rw":
				r.RW = true
			case "dev":
				r.Dev = true
			case "noexec":
				r.NoExec = true
			case "maybe":
				r.Maybe = true
			case "fs":
				r.FS = true
			case "tmp":
				r.Tmp, r.RW = true, true
			case "norec":
				r.NoRec = true
			default:
				unknown = append(unknown, o)
			}
		}
	}
	if r.FS && !hasOut && len(unknown) > 0 && strings.HasPrefix(optText, unknown[0]) {
		// "/proc:proc:fs": the type in isolate's usage example's place.
		out, hasOut, unknown = unknown[0], true, unknown[1:]
	}
	if len(unknown) > 0 {
		return bad("unknown option " + unknown[0])
	}
	if r.FS && r.Tmp {
		return bad("fs and tmp cannot be combined")
	}
	var ok bool
	if r.In, ok = insidePath(in); !ok {
		return bad("the inside path must not be empty, the root or contain '..'")
	}
	switch {
	case hasOut && out == "" && !r.Tmp:
		if hasOpts {
			return bad("a rule that removes a directory takes no options")
		}
		r.Remove = true
	case r.Tmp:
		if hasOut && out != "" {
			return bad("tmp accepts no outside directory")
		}
	case r.FS:
		if !hasOut || strings.Contains(out, "/") {
			return bad("fs needs the filesystem type: in=TYPE:fs, e.g. /proc=proc:fs")
		}
		r.Out = out
	case hasOut:
		r.Out = out
	default:
		// "-d dir": bind /dir to dir.
		r.Out = r.In
	}
	return r, nil
}

// insidePath makes an inside path absolute and clean ("box" and "/box/" are /box); isolate takes them
// relative to the sandbox's root.
func insidePath(p string) (string, bool) {
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return "", false
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", false
		}
	}
	c := path.Clean("/" + p)
	return c, c != "/"
}
