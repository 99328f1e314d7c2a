package provision

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/airlock-rbi/airlock/internal/dockerpolicy"
)

// maxListBytes bounds a list response the node buffers to filter.
const maxListBytes = 64 << 20

// modifyResponse filters responses again: the node rebuilt the filters it
// sent, but it does not trust dockerd's filtering to be the last word.
func (n *Node) modifyResponse(resp *http.Response) error {
	d := resp.Request.Context().Value(ctxKey{}).(*dockerpolicy.Decision)
	if d.Op == "container.create" && resp.StatusCode == http.StatusCreated {
		return n.rememberCreated(resp)
	}
	if resp.StatusCode != http.StatusOK || d.Filter == dockerpolicy.FilterNone {
		return nil
	}
	if d.Filter == dockerpolicy.FilterEvents {
		resp.Body = &eventFilter{src: resp.Body, dec: json.NewDecoder(bufio.NewReader(resp.Body))}
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxListBytes+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read %s response: %w", d.Op, err)
	}
	if len(raw) > maxListBytes {
		return fmt.Errorf("%s response is larger than %d bytes", d.Op, maxListBytes)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return fmt.Errorf("decode %s response: %w", d.Op, err)
	}
	kept := items[:0]
	for _, it := range items {
		var probe struct {
			ID     string `json:"Id"`
			Labels map[string]string
		}
		if err := json.Unmarshal(it, &probe); err != nil {
			return fmt.Errorf("decode %s item: %w", d.Op, err)
		}
		keep := probe.Labels[dockerpolicy.LabelManaged] == "true"
		if d.Filter == dockerpolicy.FilterImages {
			keep = d.AllowedImages[probe.ID]
		}
		if keep {
			kept = append(kept, it)
		}
	}
	out, err := json.Marshal(kept)
	if err != nil {
		return fmt.Errorf("encode %s response: %w", d.Op, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Transfer-Encoding")
	return nil
}

// eventFilter passes on only the events of labelled containers, one JSON
// object at a time, so a follower sees each event as it happens.
type eventFilter struct {
	src io.ReadCloser
	dec *json.Decoder
	buf bytes.Buffer
}

func (f *eventFilter) Read(p []byte) (int, error) {
	for f.buf.Len() == 0 {
		var ev struct {
			Type  string
			Actor struct {
				ID         string
				Attributes map[string]string
			}
		}
		var raw json.RawMessage
		if err := f.dec.Decode(&raw); err != nil {
			return 0, err
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			return 0, fmt.Errorf("decode event: %w", err)
		}
		if ev.Type != "container" || ev.Actor.Attributes[dockerpolicy.LabelManaged] != "true" {
			continue
		}
		f.buf.Write(raw)
		f.buf.WriteByte('\n')
	}
	return f.buf.Read(p)
}

func (f *eventFilter) Close() error { return f.src.Close() }

// rememberCreated notes the ID of a container the node just created with
// its label, so the calls that follow (start, inspect) need no lookup.
func (n *Node) rememberCreated(resp *http.Response) error {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read create response: %w", err)
	}
	var created struct {
		ID string `json:"Id"`
	}
	if json.Unmarshal(raw, &created) == nil {
		n.lookup.remember(created.ID)
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return nil
}
