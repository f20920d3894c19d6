package experiment

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Decoder turns YAML (or JSON, which YAML reads too) nodes into typed Go
// values. Unlike yaml.Unmarshal it keeps going after a problem, so every
// error in a document is reported at once, each with file:line:column and the
// path of the field. Struct fields are matched by their `yaml` tag; unknown
// keys are errors.
type Decoder struct {
	File string
	// Catalog types fault parameters and probe settings; nil accepts none.
	Catalog Catalog
	errs    Errors
}

// NodeDecoder is implemented by types that decode themselves from a node.
// Implementations report problems with d.Errorf and never panic.
type NodeDecoder interface {
	DecodeNode(d *Decoder, n *yaml.Node, path string)
}

// Errorf records a problem at node n (which may be nil) for the field path.
func (d *Decoder) Errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{File: d.File, Field: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// Err returns the problems recorded so far, in document order, or nil.
func (d *Decoder) Err() error { return d.errs.orNil() }

// Errors returns the problems recorded so far.
func (d *Decoder) Errors() Errors { return d.errs }

// Decode decodes n into out, which must be a non-nil pointer.
func (d *Decoder) Decode(n *yaml.Node, path string, out any) {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		panic("experiment: Decode needs a non-nil pointer")
	}
	d.decode(n, path, v.Elem())
}

var nodeDecoderType = reflect.TypeFor[NodeDecoder]()

func (d *Decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if n == nil {
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(NodeDecoder).DecodeNode(d, n, path)
		return
	}
	if n.Tag == "!!null" && v.Kind() != reflect.Interface {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return
		}
		b, err := strconv.ParseBool(s)
		if err != nil || n.Tag != "!!bool" {
			d.Errorf(n, path, "want true or false, got %q", s)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, ok := d.scalar(n, path, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(s, 0, v.Type().Bits())
		if err != nil {
			d.Errorf(n, path, "want an integer, got %q", s)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s, ok := d.scalar(n, path, "a non-negative integer")
		if !ok {
			return
		}
		i, err := strconv.ParseUint(s, 0, v.Type().Bits())
		if err != nil {
			d.Errorf(n, path, "want a non-negative integer, got %q", s)
			return
		}
		v.SetUint(i)
	case reflect.Float32, reflect.Float64:
		s, ok := d.scalar(n, path, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			d.Errorf(n, path, "want a number, got %q", s)
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.Errorf(n, path, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(jsonCompatible(x)))
	default:
		panic(fmt.Sprintf("experiment: cannot decode into %s", v.Type()))
	}
}

// scalar returns the value of a scalar node, or records an error.
func (d *Decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n, path, "want %s, got %s", want, kindName(n))
		return "", false
	}
	return n.Value, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}

// fieldInfo describes a struct field as seen by the decoder.
type fieldInfo struct {
	index    []int
	required bool
}

// structFields maps yaml names to fields, following inline embedded structs.
func structFields(t reflect.Type) (map[string]fieldInfo, []string) {
	fields := map[string]fieldInfo{}
	var order []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			sub, subOrder := structFields(f.Type)
			for _, k := range subOrder {
				fi := sub[k]
				fi.index = append([]int{i}, fi.index...)
				fields[k] = fi
				order = append(order, k)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name[:1]) + f.Name[1:]
		}
		fields[name] = fieldInfo{index: []int{i}, required: f.Tag.Get("required") == "true"}
		order = append(order, name)
	}
	return fields, order
}

func (d *Decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	fields, order := structFields(v.Type())
	seen := map[string]bool{}
	ok := keyed(d, n, path, func(k, val *yaml.Node, fp string) {
		seen[k.Value] = true
		fi, ok := fields[k.Value]
		if !ok {
			d.Errorf(k, fp, "unknown field%s", suggest(k.Value, order))
			return
		}
		d.decode(val, fp, v.FieldByIndex(fi.index))
	})
	if !ok {
		return
	}
	for _, name := range order {
		if fields[name].required && !seen[name] {
			d.Errorf(n, join(path, name), "required field is missing")
		}
	}
}

func (d *Decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "want a mapping, got %s", kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	if v.Type().Key().Kind() != reflect.String {
		panic("experiment: map keys must be strings")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		key := reflect.New(v.Type().Key()).Elem()
		key.SetString(k.Value)
		if v.MapIndex(key).IsValid() {
			d.Errorf(k, fp, "duplicate key")
			continue
		}
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, fp, elem)
		v.SetMapIndex(key, elem)
	}
}

func (d *Decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, path, "want a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.decode(c, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
	}
	v.Set(s)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// suggest names the closest known field, if one is close enough.
func suggest(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if dist := levenshtein(strings.ToLower(got), strings.ToLower(k)); dist < bestD {
			best, bestD = k, dist
		}
	}
	if best == "" {
		return fmt.Sprintf(" (known: %s)", strings.Join(known, ", "))
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// jsonCompatible turns map[string]any trees from yaml into values that
// encoding/json can marshal.
func jsonCompatible(x any) any {
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			t[k] = jsonCompatible(v)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, v := range t {
			m[fmt.Sprint(k)] = jsonCompatible(v)
		}
		return m
	case []any:
		for i, v := range t {
			t[i] = jsonCompatible(v)
		}
		return t
	}
	return x
}

// NodeToJSON renders a node as JSON, for journals and ledger records.
func NodeToJSON(n *yaml.Node) (json.RawMessage, error) {
	if n == nil {
		return json.RawMessage("{}"), nil
	}
	var x any
	if err := n.Decode(&x); err != nil {
		return nil, fmt.Errorf("decode node: %w", err)
	}
	return json.Marshal(jsonCompatible(x))
}

func reflectOf(p any) reflect.Value { return reflect.ValueOf(p).Elem() }
