package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cgroupViewPolicy writes a policy that extends base with the cgroup view on (and /etc/java-* for the JVM).
func cgroupViewPolicy(t *testing.T, base string, view bool) string {
	t.Helper()
	var binds []string
	javaEtc, _ := filepath.Glob("/etc/java-*")
	for _, d := range javaEtc {
		binds = append(binds, `{"type": "bind", "src": "`+d+`", "dst": "`+d+`"}`)
	}
	p := filepath.Join(t.TempDir(), "view.json")
	body := `{"version": 1, "extends": "` + base + `", "filesystem": {"cgroup_view": ` + strconv.FormatBool(view) + `, "mounts": [` + strings.Join(binds, ", ") + `]}}`
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The view shows the run's own limits, in the places runtimes read them, and nothing in it can be written.
func TestCgroupView(t *testing.T) {
	requirePrivileged(t)
	script := `for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
  [ -e "$f" ] || continue
  echo "limit $(cat $f)"
  echo 1 > "$f" 2>/dev/null && echo "WROTE $f"
  echo 1 > "$(dirname $f)/cgroup.procs" 2>/dev/null && echo "WROTE procs"
  mkdir "$(dirname $f)/sub" 2>/dev/null && echo "MADE a cgroup"
done
touch /sys/fs/cgroup/x 2>/dev/null && echo "WROTE the view's root"
grep -c ':/$' /proc/self/cgroup >/dev/null && echo "cgroup $(grep -E '(^0::|memory)' /proc/self/cgroup | head -1 | cut -d: -f3)"`
	r := jailrun(t, []string{"--quiet", "--policy", cgroupViewPolicy(t, "default", true), "--memory", "64M", "--", "/bin/sh", "-c", script})
	if r.code != 0 || !strings.Contains(r.stdout, "limit 67108864\n") || strings.Contains(r.stdout, "WROTE") || strings.Contains(r.stdout, "MADE") {
		t.Errorf("the view does not show the 64M limit read-only:\n%v", r)
	}
	if !strings.Contains(r.stdout, "cgroup /\n") {
		t.Errorf("/proc/self/cgroup does not show the run's cgroup as the root:\n%v", r)
	}
	off := jailrun(t, []string{"--quiet", "--policy", cgroupViewPolicy(t, "default", false), "--", "/bin/sh", "-c", "ls /sys/fs/cgroup"})
	if off.code == 0 {
		t.Errorf("without filesystem.cgroup_view /sys/fs/cgroup exists:\n%v", off)
	}
}

func needJava(t *testing.T) string {
	t.Helper()
	java, err := filepath.EvalSymlinks("/usr/bin/java")
	if err != nil {
		t.Skip("java is not installed (/usr/bin/java)")
	}
	return java
}

var maxHeap = regexp.MustCompile(`MaxHeapSize\s+=\s+(\d+)`)

// The JVM sizes its heap from the sandbox's memory limit with the view, from the host's RAM without.
func TestCgroupViewJava(t *testing.T) {
	requirePrivileged(t)
	java := needJava(t)
	heap := func(view bool) int64 {
		r := jailrun(t, []string{"--quiet", "--policy", cgroupViewPolicy(t, "compile", view), "--memory", "256M", "--", java, "-XX:+PrintFlagsFinal", "-version"})
		m := maxHeap.FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil {
			t.Fatalf("java -XX:+PrintFlagsFinal -version:\n%v", r)
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		return v
	}
	with, without := heap(true), heap(false)
	t.Logf("MaxHeapSize under --memory 256M: %d with the view, %d without", with, without)
	if with <= 0 || with >= 256<<20 {
		t.Errorf("MaxHeapSize %d with the view, want below the 256M limit", with)
	}
	if without < 256<<20 {
		t.Logf("the host has too little RAM to tell the view from no view (MaxHeapSize %d without it)", without)
	}

	// A Java memory hog under the view ends on memory (the JVM's own OutOfMemoryError at its heap, or the
	// cgroup's OOM kill), promptly, never as a time limit from a collector thrashing against the limit.
	dir := t.TempDir()
	for _, p := range []string{filepath.Dir(dir), dir} {
		os.Chmod(p, 0o755)
	}
	src := `import java.util.ArrayList;
public class Hog { public static void main(String[] a) { ArrayList<byte[]> keep = new ArrayList<>();
  for (;;) { byte[] b = new byte[1 << 20]; for (int j = 0; j < b.length; j += 4096) b[j] = 1; keep.add(b); } } }`
	if err := os.WriteFile(filepath.Join(dir, "Hog.java"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"heap sized by the view", nil, "OutOfMemoryError"},
		{"heap above the limit", []string{"-Xmx1g"}, "memory_limit"},
		// docs/languages.md's recipe for graders that want the kernel's limit to decide.
		{"heap at the whole limit", []string{"-XX:MaxRAMPercentage=100"}, "memory_limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if inVM() {
				// Seen in the v2 lane: the JVM itself dies of SIGSEGV (hs_err) filling its heap in the
				// software-emulated 2 GiB guest. The heap sizing above ran there; the hog runs on the host.
				t.Skip("a JVM filling its heap crashes in the emulated VM lane's guest; covered on the host")
			}
			argv := append(append([]string{java}, tc.flags...), "/src/Hog.java")
			r := jailrun(t, append([]string{"--quiet", "--policy", cgroupViewPolicy(t, "compile", true), "--memory", "256M", "--cpu-time", "20s", "--wall-time", "40s", "--bind", dir + ":/src:ro", "--"}, argv...))
			switch st := r.status(); {
			case st == "time_limit" || st == "wall_time_limit":
				t.Fatalf("a Java memory hog ended as %s:\n%v", st, r)
			case tc.want == "memory_limit" && st != "memory_limit":
				t.Errorf("status %s, want memory_limit:\n%v", st, r)
			case tc.want == "OutOfMemoryError" && (st != "nonzero_exit" || !strings.Contains(r.stderr, "java.lang.OutOfMemoryError")):
				t.Errorf("status %s, want the JVM's own OutOfMemoryError:\n%v", st, r)
			}
		})
	}
}
