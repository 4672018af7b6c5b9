package service

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// execConn is a raw client of POST /v1/exec for tests.
type execConn struct {
	c  net.Conn
	rd *bufio.Reader
}

func dialExec(t *testing.T, ts *testServer, body string, headers ...string) (*execConn, *http.Response) {
	t.Helper()
	c, err := net.Dial("unix", ts.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := "Connection: Upgrade\r\nUpgrade: " + ExecProtocol + "\r\n"
	if len(headers) > 0 {
		h = strings.Join(headers, "\r\n") + "\r\n"
	}
	fmt.Fprintf(c, "POST /v1/exec HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n%s", h, len(body), body)
	ec := &execConn{c: c, rd: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(ec.rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ec, resp
}

// frames reads frames until the result (or the end), returning stdout and the result.
func (ec *execConn) untilResult(t *testing.T) (string, *ExecResponse, error) {
	t.Helper()
	var out bytes.Buffer
	for {
		typ, p, err := ReadFrame(ec.rd, nil)
		if err != nil {
			return out.String(), nil, err
		}
		switch typ {
		case FrameStdout:
			out.Write(p)
		case FrameResult:
			var er ExecResponse
			if err := json.Unmarshal(p, &er); err != nil {
				t.Fatalf("result: %v: %s", err, p)
			}
			return out.String(), &er, nil
		}
	}
}

func TestExecStreamsAndAnswers(t *testing.T) {
	ts := startServer(t, myTenants(""))
	ec, resp := dialExec(t, ts, `{"policy": "strict", "argv": ["echo"]}`)
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get(ExecWindowHeader) != fmt.Sprint(ExecWindow) {
		t.Fatalf("%s %v", resp.Status, resp.Header)
	}
	WriteFrame(ec.c, FrameStdin, []byte("hello "))
	WriteFrame(ec.c, FrameStdin, []byte("world"))
	WriteFrame(ec.c, FrameStdinClose, nil)
	out, er, err := ec.untilResult(t)
	if err != nil || out != "hello world" || er.Result == nil || er.Result.Status != "ok" || er.Error != nil || er.Meta == "" {
		t.Fatalf("%q %+v %v", out, er, err)
	}
	// The server closes its side after the result.
	if _, _, err := ReadFrame(ec.rd, nil); !errors.Is(err, io.EOF) {
		t.Errorf("after the result: %v, want EOF", err)
	}
}

func TestExecRefusals(t *testing.T) {
	ts := startServer(t, myTenants(""))
	for _, tc := range []struct {
		name, body string
		headers    []string
		code       int
		kind       string
	}{
		{"no upgrade", `{"policy": "strict", "argv": ["echo"]}`, []string{"X-A: b"}, 400, KindBadRequest},
		{"policy not allowed", `{"policy": "interpreter", "argv": ["echo"]}`, nil, 403, KindForbidden},
		{"params without a template", `{"policy": "strict", "params": {"a": "b"}}`, nil, 422, KindArgument},
		{"unknown field", `{"policy": "strict", "argv": ["echo"], "stdin": "x"}`, nil, 400, KindBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp := dialExec(t, ts, tc.body, tc.headers...)
			defer resp.Body.Close()
			var er ExecResponse
			b, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(b, &er); err != nil || resp.StatusCode != tc.code || er.Error == nil || er.Error.Kind != tc.kind {
				t.Fatalf("%s: %s", resp.Status, b)
			}
		})
	}
}

// A client that sends more stdin than its window breaks the protocol: the run ends and nothing is answered.
func TestExecWindowIsEnforced(t *testing.T) {
	ts := startServer(t, myTenants(""))
	ec, resp := dialExec(t, ts, `{"policy": "strict", "argv": ["block", "window"]}`)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatal(resp.Status)
	}
	waitStarted(t, ts.fake, "window")
	chunk := make([]byte, 64<<10)
	for range ExecWindow/len(chunk) + 1 {
		if err := WriteFrame(ec.c, FrameStdin, chunk); err != nil {
			break
		}
	}
	var ne net.Error
	if _, er, err := ec.untilResult(t); err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("after a window violation the server must hang up at once; got %+v, %v", er, err)
	}
	waitFor(t, func() bool { return ts.srv.inflight.Load() == 0 })
}

// FrameSignal stops the run and the client still gets its result, with kind canceled.
func TestExecSignalStopsTheRun(t *testing.T) {
	ts := startServer(t, myTenants(""))
	ec, _ := dialExec(t, ts, `{"policy": "strict", "argv": ["block", "sig"]}`)
	waitStarted(t, ts.fake, "sig")
	WriteFrame(ec.c, FrameSignal, Uint32Payload(2))
	_, er, err := ec.untilResult(t)
	if err != nil || er.Error == nil || er.Error.Kind != KindCanceled || er.Result == nil || er.Result.Limit == nil || er.Result.Limit.Name != "context" {
		t.Fatalf("%+v %v", er, err)
	}
}
