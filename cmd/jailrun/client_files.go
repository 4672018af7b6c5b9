package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/jailrun/jailrun/sandbox"
	"github.com/jailrun/jailrun/sandbox/service"
)

// clientFiles carries --copy-in and --copy-out through a server: each file in is uploaded to the server's
// file store (POST /v1/files) and named by its id in the run's files_in; each file out is kept in the store
// ("cache": true: the answer's frame could not hold a large one) and fetched (GET /v1/files/{id}) after the
// run. Every id is deleted again when done. The sandbox side is the server's, checked as for POST /v1/run.
type clientFiles struct {
	server string
	http   *http.Client
	ids    []string // uploaded or cached: deleted by done
}

func newClientFiles(server string) *clientFiles {
	return &clientFiles{server: server, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", server)
		},
	}}}
}

// in uploads the files in and returns the request's files_in.
func (cf *clientFiles) in(ins []sandbox.FileIn) ([]service.FileInSpec, error) {
	var specs []service.FileInSpec
	for _, fi := range ins {
		f, err := os.Open(fi.Src)
		if err != nil {
			return nil, fail(exitUsage, "--copy-in %s: %v", fi.Src, err)
		}
		var info service.FileResponse
		err = cf.do("POST", "/files?mode="+strconv.FormatUint(uint64(fi.Mode), 8), f, &info, "--copy-in "+fi.Src)
		f.Close()
		if err != nil {
			return nil, err
		}
		cf.ids = append(cf.ids, info.FileID)
		specs = append(specs, service.FileInSpec{Path: fi.Path, FileID: info.FileID, Mode: service.FileMode(fi.Mode)})
	}
	return specs, nil
}

// out writes the run's files out to their host paths. A file the run did not leave (or could not be
// copied) is reported on stderr, as in a local run; the result's files_out, from the server, says so too.
func (cf *clientFiles) out(outs []copyOut, got []service.FileOutResult) error {
	for i, o := range outs {
		if i >= len(got) {
			break
		}
		g := got[i]
		if g.FileID != "" {
			cf.ids = append(cf.ids, g.FileID)
		}
		if g.Error != "" || g.FileID == "" {
			why := g.Error
			if why == "" {
				why = "the server returned no file"
			}
			fmt.Fprintf(os.Stderr, "jailrun: --copy-out %s: %s\n", o.inside, why)
			continue
		}
		var body []byte
		if err := cf.do("GET", "/files/"+g.FileID, nil, &body, "--copy-out "+o.inside); err != nil {
			return err
		}
		if err := writeCopyOut(o.host, body, g.Mode.Perm()&^0o022); err != nil {
			return fail(exitInput, "--copy-out %s: %v", o.inside, err)
		}
	}
	return nil
}

// done deletes every file this run put in the server's store; one left behind expires with the store's TTL.
func (cf *clientFiles) done() {
	for _, id := range cf.ids {
		_ = cf.do("DELETE", "/files/"+id, nil, nil, "")
	}
	cf.http.CloseIdleConnections()
}

// do makes one request of the file endpoints. into is a *service.FileResponse (JSON) or a *[]byte (the
// body); what names the flag in errors.
func (cf *clientFiles) do(method, path string, body io.Reader, into any, what string) error {
	req, err := http.NewRequest(method, "http://jailrun/"+service.APIVersion+path, body)
	if err != nil {
		return fail(exitInternal, "%s: %v", what, err)
	}
	resp, err := cf.http.Do(req)
	if err != nil {
		return fail(exitNoServer, "%s: server %s: %v", what, cf.server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var er service.FileResponse
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &er) != nil || er.Error == nil {
			return fail(exitInternal, "%s: server %s answered %s", what, cf.server, resp.Status)
		}
		c := &execClient{server: cf.server}
		er.Error.Message = what + ": " + er.Error.Message
		return c.apiError(er.Error)
	}
	switch v := into.(type) {
	case *service.FileResponse:
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil || v.FileInfo == nil {
			return fail(exitInternal, "%s: server %s: a file answer without a file: %v", what, cf.server, err)
		}
	case *[]byte:
		if *v, err = io.ReadAll(resp.Body); err != nil {
			return fail(exitNoServer, "%s: server %s: %v", what, cf.server, err)
		}
	}
	return nil
}
