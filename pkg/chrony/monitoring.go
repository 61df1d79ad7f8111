package chrony

import (
	"context"
	"errors"
	"fmt"
	"strings"

	fbchrony "github.com/facebook/time/ntp/chrony"
)

// MaxClientPages bounds the `clients` pages one Clients call asks for (8 clients a page): a
// client log holds at most a few thousand entries at chronyd's default clientloglimit, and a
// reply that never advances must not keep a scrape asking.
const MaxClientPages = 4096

// ErrClientLogOff is what Clients returns when chronyd keeps no client log (`noclientlog`):
// it answers the request with status INACTIVE.
var ErrClientLogOff = errors.New("chronyd keeps no client log (noclientlog)")

// Clients asks for chronyd's client log (`chronyc clients`), page by page until the table
// is walked, calling each for every client. The walk is not atomic: chronyd may add or drop
// clients between pages, as with chronyc.
func Clients(ctx context.Context, c Communicator, each func(fbchrony.ClientAccess)) error {
	first := uint32(0)
	for range MaxClientPages {
		resp, err := c.Communicate(ctx, fbchrony.NewClientAccessesByIndexPacket(first, fbchrony.MaxClientAccessesByIndex, 0))
		if err != nil {
			// facebook/time reports a reply's status only as text.
			if strings.Contains(err.Error(), "status INACTIVE") {
				return fmt.Errorf("get 'clients' response: %w", ErrClientLogOff)
			}
			return fmt.Errorf("get 'clients' response from index %d: %w", first, err)
		}
		r, ok := resp.(*fbchrony.ReplyClientAccessesByIndex)
		if !ok {
			return unexpected("clients", resp)
		}
		for _, cl := range r.Clients {
			each(cl)
		}
		if r.NextIndex >= r.NIndices || r.NextIndex <= first {
			return nil
		}
		first = r.NextIndex
	}
	return fmt.Errorf("get 'clients' response: table not walked in %d pages", MaxClientPages)
}
