// Command tlogcheck checks an auditlog log through its C2SP tlog-tiles API the way any
// standard client would, with nothing of auditlog's: golang.org/x/mod's sumdb/note opens
// the signed checkpoint, sumdb/tlog's TileHashReader reads the tiles (checking each
// against the signed root) to prove entries from their bundles and, given an older
// checkpoint, the log's consistency with it.
//
// Usage: tlogcheck -url PREFIX -key VKEY [-token BEARER] [-old FILE] [-index I,J,...]
// Exit 0: every check passed; 1: a check failed; 2: unusable input or a failed fetch.
package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// failed is a check that did not pass (exit 1), as opposed to unusable input (exit 2).
type failed struct{ error }

func main() {
	prefix := flag.String("url", "", "the log's tiles prefix, e.g. http://127.0.0.1:8080")
	key := flag.String("key", "", "the log's verifier key")
	old := flag.String("old", "", "a file holding an older checkpoint of the log")
	indexes := flag.String("index", "", "entries to prove, comma-separated (default: first, middle, last)")
	flag.StringVar(&bearer, "token", "", "an API key, sent as Authorization: Bearer")
	flag.Parse()
	summary, err := run(strings.TrimSuffix(*prefix, "/"), *key, *old, *indexes)
	var f failed
	switch {
	case errors.As(err, &f):
		fmt.Println("invalid:", f.error)
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "tlogcheck:", err)
		os.Exit(2)
	}
	fmt.Println("ok:", summary)
}

func run(prefix, key, old, indexes string) (string, error) {
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return "", fmt.Errorf("verifier key: %w", err)
	}
	text, err := get(prefix + "/checkpoint")
	if err != nil {
		return "", err
	}
	tree, err := open(text, verifier)
	if err != nil {
		return "", err
	}
	tiles := &tileReader{prefix: prefix}
	hashes := tlog.TileHashReader(tree, tiles)

	wanted := []int64{0, tree.N / 2, tree.N - 1}
	if indexes != "" {
		wanted = nil
		for _, s := range strings.Split(indexes, ",") {
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return "", fmt.Errorf("index %q: %w", s, err)
			}
			wanted = append(wanted, i)
		}
	}
	for _, i := range wanted {
		entry, err := entryAt(prefix, tree.N, i)
		if err != nil {
			return "", err
		}
		proof, err := tlog.ProveRecord(tree.N, i, hashes)
		if tiles.fetchErr != nil {
			return "", tiles.fetchErr
		}
		if err != nil {
			return "", failed{fmt.Errorf("proving entry %d: %w", i, err)}
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, i, tlog.RecordHash(entry)); err != nil {
			return "", failed{fmt.Errorf("entry %d: %w", i, err)}
		}
	}
	summary := fmt.Sprintf("%s size %d: %d entries proven", verifier.Name(), tree.N, len(wanted))

	if old != "" {
		oldText, err := os.ReadFile(old)
		if err != nil {
			return "", err
		}
		older, err := open(oldText, verifier)
		if err != nil {
			return "", err
		}
		proof, err := tlog.ProveTree(tree.N, older.N, hashes)
		if tiles.fetchErr != nil {
			return "", tiles.fetchErr
		}
		if err != nil {
			return "", failed{fmt.Errorf("proving consistency with size %d: %w", older.N, err)}
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, older.N, older.Hash); err != nil {
			return "", failed{fmt.Errorf("consistency with size %d: %w", older.N, err)}
		}
		summary += fmt.Sprintf(", consistent with size %d", older.N)
	}
	return summary + fmt.Sprintf(", %d tiles read", tiles.read), nil
}

// open checks a checkpoint's signature and origin and returns its tree.
func open(text []byte, verifier note.Verifier) (tlog.Tree, error) {
	n, err := note.Open(text, note.VerifierList(verifier))
	if err != nil {
		return tlog.Tree{}, failed{fmt.Errorf("checkpoint: %w", err)}
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != verifier.Name() {
		return tlog.Tree{}, failed{fmt.Errorf("checkpoint of %q, not of %q", lines[0], verifier.Name())}
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 1 {
		return tlog.Tree{}, failed{fmt.Errorf("checkpoint size %q", lines[1])}
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return tlog.Tree{}, failed{fmt.Errorf("checkpoint root %q", lines[2])}
	}
	var hash tlog.Hash
	copy(hash[:], root)
	return tlog.Tree{N: size, Hash: hash}, nil
}

// entryAt fetches the entry bundle holding entry i of a tree of size n, and returns it.
func entryAt(prefix string, n, i int64) ([]byte, error) {
	if i < 0 || i >= n {
		return nil, fmt.Errorf("entry %d is not in a tree of %d", i, n)
	}
	t := tlog.Tile{H: 8, L: -1, N: i / 256, W: 256}
	if rest := n - t.N*256; rest < 256 {
		t.W = int(rest)
	}
	data, err := get(prefix + "/" + c2spPath(t))
	if err != nil {
		return nil, err
	}
	var entries [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, failed{errors.New("an entry bundle ends inside a length")}
		}
		size := int(data[0])<<8 | int(data[1])
		if len(data) < 2+size {
			return nil, failed{errors.New("an entry bundle ends inside an entry")}
		}
		entries = append(entries, data[2:2+size])
		data = data[2+size:]
	}
	if len(entries) != t.W {
		return nil, failed{fmt.Errorf("entry bundle %d holds %d entries, not %d", t.N, len(entries), t.W)}
	}
	return entries[i%256], nil
}

// c2spPath is the tlog-tiles path of a tile: sumdb's, without the height, and with
// `entries` for the data tiles.
func c2spPath(t tlog.Tile) string {
	return strings.Replace(strings.Replace(t.Path(), "tile/8/data/", "tile/entries/", 1), "tile/8/", "tile/", 1)
}

// tileReader fetches hash tiles from the log; TileHashReader checks them. A failed fetch
// is kept apart, so that it reads as unusable input, not as a proof that failed.
type tileReader struct {
	prefix   string
	read     int
	fetchErr error
}

func (r *tileReader) Height() int { return 8 }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := get(r.prefix + "/" + c2spPath(t))
		if err != nil {
			r.fetchErr = err
			return nil, err
		}
		out[i] = data
		r.read++
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// bearer is the API key every request carries, if one was given.
var bearer string

// client gives up on a server that stalls.
var client = &http.Client{Timeout: 60 * time.Second}

func get(url string) ([]byte, error) {
	request, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		request.Header.Set("Authorization", "Bearer "+bearer)
	}
	answer, err := client.Do(request)
	if err != nil {
		return nil, err
	}
	defer answer.Body.Close()
	body, err := io.ReadAll(answer.Body)
	if err != nil {
		return nil, err
	}
	if answer.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, answer.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}
