package procid

import "testing"

func TestParseStatStart(t *testing.T) {
	// Field 22 is the start time; the command name may contain spaces and parentheses.
	fields := "S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10"
	for _, comm := range []string{"(sh)", "(a b)", "(x) (y))", "())"} {
		got, err := ParseStatStart("99 " + comm + " " + fields)
		if err != nil || got != 123456 {
			t.Errorf("comm %s: got %d, %v", comm, got, err)
		}
	}
	if _, err := ParseStatStart("99 (sh) S 1"); err == nil {
		t.Error("short line accepted")
	}
}

func TestParseRoundTrip(t *testing.T) {
	id := ID{PIDNS: 4026531836, PID: 123, Start: 456}
	if got, ok := Parse(id.String()); !ok || got != id {
		t.Fatalf("Parse(%q) = %+v, %v", id.String(), got, ok)
	}
	for _, s := range []string{"", "1.2", "1.2.3.4", "x.2.3", "1.0.3", "1.-2.3", "1.2.x", "1.99999999999.3"} {
		if got, ok := Parse(s); ok {
			t.Errorf("Parse(%q) accepted: %+v", s, got)
		}
	}
}

func TestSelfIsAliveAndAGoneProcessIsNot(t *testing.T) {
	me, err := Self()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if !me.Alive() {
		t.Fatalf("this process (%v) is not alive", me)
	}
	if (ID{PIDNS: me.PIDNS, PID: me.PID, Start: me.Start + 1}).Alive() {
		t.Error("a reused pid (another start time) counts as alive")
	}
}
