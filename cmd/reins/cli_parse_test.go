package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestParseInterspersed: flags before, between and after the arguments; "--" ends them.
func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		json bool
		out  string
	}{
		{[]string{"ID", "--json"}, []string{"ID"}, true, ""},
		{[]string{"--json", "ID"}, []string{"ID"}, true, ""},
		{[]string{"a", "--out", "f", "b"}, []string{"a", "b"}, false, "f"},
		{[]string{"--out=f", "a", "--", "--json"}, []string{"a", "--json"}, false, "f"},
		{nil, nil, false, ""},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		jsonFlag := fs.Bool("json", false, "")
		out := fs.String("out", "", "")
		pos, err := parseInterspersed(fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || *jsonFlag != tc.json || *out != tc.out {
			t.Errorf("%q: got %q json=%v out=%q err=%v; want %q json=%v out=%q", tc.args, pos, *jsonFlag, *out, err, tc.pos, tc.json, tc.out)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := parseInterspersed(fs, []string{"ID", "--nope"}); err == nil {
		t.Errorf("an unknown flag after the arguments was accepted")
	}
}

// TestReadEvents parses the event-stream format: fields, comments, multi-line data, an
// event left unfinished at the end of the stream (dropped, as the format says).
func TestReadEvents(t *testing.T) {
	stream := ": ping\n\nid: 1\nevent: status\ndata: {\"a\":1}\n\n" +
		"id: 2\nevent:progress\ndata: x\ndata: y\n\n" +
		"retry: 10\n\n" +
		"id: 3\ndata: cut"
	var got []streamEvent
	err := readEvents(strings.NewReader(stream), func(e streamEvent) error {
		got = append(got, e)
		return nil
	})
	want := []streamEvent{{"1", "status", `{"a":1}`}, {"2", "progress", "x\ny"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q (%v), want %q", got, err, want)
	}
}
