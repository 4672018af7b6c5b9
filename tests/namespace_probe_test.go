package tests

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/sandbox/service"
)

// A namespace kind the host will not create is named with its fix when the clone fails (fail closed), is
// skipped when the policy may do without it, and jailrun doctor says the same before any run; jailrun
// serve gives the same answers (the library's are in sandbox/probe_linux_test.go). The host's
// limit on time namespaces is set to 0 for the test (and restored): root's clone then fails with ENOSPC, as
// it would on a host that has used them all up.
func TestNamespaceTheHostWillNotCreate(t *testing.T) {
	requireRoot(t)
	const limit = "/proc/sys/user/max_time_namespaces"
	restoreTime := testenv.SetHostLimit(t, limit, "0", "time namespaces")

	pol := policyFile(t, `"namespaces": {"time": true}`)
	r := jailrun(t, []string{"--policy", pol, "--", "/bin/true"})
	if r.code != 121 || !strings.Contains(r.stderr, "namespaces.time") || !strings.Contains(r.stderr, limit+" is 0") ||
		!strings.Contains(r.stderr, "require.best_effort") {
		t.Fatalf("want exit 121 naming namespaces.time, %s and the opt-out, got %s", limit, short(r.String()))
	}
	d := jailrun(t, []string{"doctor", "--policy", pol})
	if d.code != 121 || !strings.Contains(d.stdout, "namespaces.time") || !strings.Contains(d.stdout+d.stderr, limit+" is 0") {
		t.Fatalf("doctor: want exit 121 with namespaces.time unavailable, got %s", short(d.String()))
	}

	refused := pol
	pol = policyFile(t, `"namespaces": {"time": true}, "require": {"best_effort": ["namespaces.time"]}`)
	r = jailrun(t, []string{"--policy", pol, "--", "/bin/true"})
	enforced, _ := r.result["enforced"].(map[string]any)
	if r.code != 0 || !strings.Contains(strings.Join(anyStrings(r.result["skipped"]), ","), "namespaces.time") ||
		strings.Contains(strings.Join(anyStrings(enforced["namespaces"]), ","), "time") {
		t.Fatalf("best effort: want exit 0, namespaces.time skipped and not enforced, got %s (skipped %v, enforced %v)",
			short(r.String()), r.result["skipped"], enforced["namespaces"])
	}
	if d := jailrun(t, []string{"doctor", "--policy", pol}); d.code != 0 {
		t.Fatalf("doctor, best effort: want exit 0, got %s", short(d.String()))
	}

	// jailrun serve gives the same answers: the refusal as an unsupported error naming the kind, the
	// best-effort run with the kind in its result's skipped.
	srv := startServe(t, fmt.Sprintf(`{"tenants": [{"name": "t", "uids": [%d], "policies": [%q, %q]}]}`, os.Getuid(), refused, pol))
	a := srv.run(context.Background(), "", map[string]any{"policy": refused, "argv": []string{"/bin/true"}})
	if a.body.Error == nil || a.body.Error.Kind != service.KindUnsupported || !strings.Contains(a.body.Error.Message, "namespaces.time") {
		t.Fatalf("serve: want an unsupported error naming namespaces.time, got %d %s", a.code, short(a.raw))
	}
	a = srv.run(context.Background(), "", map[string]any{"policy": pol, "argv": []string{"/bin/true"}})
	if a.code != 200 || a.body.Result == nil || !strings.Contains(strings.Join(a.body.Result.Skipped, ","), "namespaces.time") {
		t.Fatalf("serve, best effort: want 200 with namespaces.time skipped, got %d %s", a.code, short(a.raw))
	}

	// With the limit restored the same policy gets its time namespace.
	restoreTime()
	r = jailrun(t, []string{"--policy", pol, "--", "/bin/true"})
	if r.code != 0 || strings.Contains(strings.Join(anyStrings(r.result["skipped"]), ","), "namespaces.time") {
		t.Fatalf("with the limit restored: want exit 0 and nothing skipped, got %s", short(r.String()))
	}

	// A kind the rest of the launch needs is never dropped, best_effort or not: without a uts namespace the
	// init's sethostname would rename the host.
	restoreUTS := testenv.SetHostLimit(t, "/proc/sys/user/max_uts_namespaces", "0", "uts namespaces")
	pol = policyFile(t, `"require": {"best_effort": ["namespaces.uts"]}`)
	host, _ := os.Hostname()
	r = jailrun(t, []string{"--policy", pol, "--", "/bin/true"})
	restoreUTS()
	if r.code != 121 || !strings.Contains(r.stderr, "namespaces.uts") || strings.Contains(r.stderr, "list namespaces.uts in require.best_effort") {
		t.Fatalf("uts: want exit 121 naming namespaces.uts without offering best_effort, got %s", short(r.String()))
	}
	if now, _ := os.Hostname(); now != host {
		t.Fatalf("the host's hostname changed from %q to %q", host, now)
	}
}
