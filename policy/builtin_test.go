package policy

import (
	"path/filepath"
	"reflect"
	"testing"
)

// The built-in policies are the embedded copies of policies/*.json: loading the file and asking for the
// built-in must give the same settings (only Source differs).
func TestBuiltinEqualsFile(t *testing.T) {
	names := BuiltinNames()
	if len(names) == 0 {
		t.Fatal("no built-in policies")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := Builtin(name)
			if err != nil {
				t.Fatalf("Builtin(%q): %v", name, err)
			}
			f, err := Load(filepath.Join("..", "policies", name+".json"))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if b.Source != "builtin:"+name {
				t.Errorf("Source = %q", b.Source)
			}
			f.Source = b.Source
			if !reflect.DeepEqual(b, f) {
				t.Errorf("Builtin(%q) differs from policies/%s.json:\n%+v\n%+v", name, name, b, f)
			}
			r, err := Resolve(name)
			if err != nil || !reflect.DeepEqual(r, b) {
				t.Errorf("Resolve(%q) = %v, %v", name, r, err)
			}
		})
	}
}

func TestStrictIsTheDefault(t *testing.T) {
	s, err := Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	ns := s.Namespaces
	if !ns.User || !ns.PID || !ns.Mount || !ns.Net || !ns.IPC || !ns.UTS || !ns.Cgroup {
		t.Errorf("strict namespaces = %+v", ns)
	}
	if !s.Process.NoNewPrivs || s.Process.Unsafe {
		t.Errorf("strict process = %+v", s.Process)
	}
	if s.Limits.Memory != 256<<20 || s.Limits.Pids != 64 {
		t.Errorf("strict limits = %+v", s.Limits)
	}
	for _, m := range s.Filesystem.Mounts {
		if m.Kind == MountBind && !m.ReadOnly {
			t.Errorf("strict binds %s writable", m.Src)
		}
	}
}
