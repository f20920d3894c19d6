package fault

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// ParamDoc documents one parameter of a kind.
type ParamDoc struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Default string `json:"default,omitempty"`
	Doc     string `json:"doc,omitempty"`
}

// ParamDocs describes a parameter struct (a pointer to one, defaults set)
// from its `yaml` names, types, current values and `doc` tags.
func ParamDocs(params any) []ParamDoc {
	v := reflect.ValueOf(params)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	var docs []ParamDoc
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if strings.Contains(opts, "inline") {
			docs = append(docs, ParamDocs(v.Field(i).Addr().Interface())...)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		d := ParamDoc{Name: name, Type: typeName(f.Type), Doc: f.Tag.Get("doc")}
		if fv := v.Field(i); !fv.IsZero() {
			if fv.Kind() == reflect.String {
				d.Default = fv.String()
			} else if s, ok := fv.Interface().(fmt.Stringer); ok {
				d.Default = s.String()
			} else if b, err := json.Marshal(fv.Interface()); err == nil {
				d.Default = string(b)
			}
		}
		docs = append(docs, d)
	}
	return docs
}

func typeName(t reflect.Type) string {
	switch t.Name() {
	case "Duration":
		return "duration"
	case "Size":
		return "size"
	case "Percent":
		return "percent"
	case "Regexp":
		return "regexp"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "integer"
	case reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	}
	return t.Kind().String()
}
