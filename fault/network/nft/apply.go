package nft

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/google/nftables"
)

// conn opens an nftables connection in namespace f (nil: the current one).
func conn(f *os.File) (*nftables.Conn, error) {
	var opts []nftables.ConnOption
	if f != nil {
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	return c, nil
}

// Apply creates table t in namespace f in one atomic batch: all of it or
// nothing. A table of that name must not exist yet.
func Apply(f *os.File, t Table) error {
	c, err := conn(f)
	if err != nil {
		return err
	}
	family := nftables.TableFamilyINet
	if t.Netdev() {
		family = nftables.TableFamilyNetdev
	}
	tbl := c.CreateTable(&nftables.Table{Name: t.Name, Family: family})
	accept := nftables.ChainPolicyAccept
	for _, ch := range t.Chains {
		chain := c.AddChain(&nftables.Chain{
			Name: ch.Name, Table: tbl, Type: nftables.ChainTypeFilter, Device: ch.Device,
			Hooknum: hooknum(ch.Hook), Priority: nftables.ChainPriorityFilter, Policy: &accept,
		})
		for i, r := range ch.Rules {
			exprs, err := r.Exprs(ch.Hook)
			if err != nil {
				return fmt.Errorf("rule %d of chain %s: %w", i+1, ch.Name, err)
			}
			c.AddRule(&nftables.Rule{Table: tbl, Chain: chain, Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add nftables table %s: %w", t.Name, err)
	}
	return nil
}

// families are the table families the faults use.
var families = []nftables.TableFamily{nftables.TableFamilyINet, nftables.TableFamilyNetdev}

// Tables lists faultline's tables in namespace f, as "family name".
func Tables(f *os.File) ([]string, error) {
	c, err := conn(f)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, fam := range families {
		ts, err := c.ListTablesOfFamily(fam)
		if err != nil {
			return nil, fmt.Errorf("list nftables tables: %w", err)
		}
		for _, t := range ts {
			if strings.HasPrefix(t.Name, TablePrefix) {
				out = append(out, familyName(fam)+" "+t.Name)
			}
		}
	}
	return out, nil
}

// Has reports whether a table called name exists in namespace f, in any
// family.
func Has(f *os.File, name string) (bool, error) {
	ts, err := Tables(f)
	if err != nil {
		return false, err
	}
	for _, t := range ts {
		if _, n, _ := strings.Cut(t, " "); n == name {
			return true, nil
		}
	}
	return false, nil
}

func familyName(f nftables.TableFamily) string {
	if f == nftables.TableFamilyNetdev {
		return "netdev"
	}
	return "inet"
}

// Delete removes the tables called name (of every family the faults use)
// from namespace f, with everything in them. It reports whether one was
// there.
func Delete(f *os.File, name string) (bool, error) {
	if !strings.HasPrefix(name, TablePrefix) {
		return false, fmt.Errorf("refusing to delete table %q: not one of faultline's", name)
	}
	ts, err := Tables(f)
	if err != nil {
		return false, err
	}
	found := false
	for _, fam := range families {
		if !slices.Contains(ts, familyName(fam)+" "+name) {
			continue
		}
		c, err := conn(f)
		if err != nil {
			return found, err
		}
		c.DelTable(&nftables.Table{Name: name, Family: fam})
		if err := c.Flush(); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed meanwhile by another recovery
			}
			return found, fmt.Errorf("delete nftables table %s %s: %w", familyName(fam), name, err)
		}
		found = true
	}
	return found, nil
}
