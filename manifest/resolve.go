package manifest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The scalar resolution below mirrors go.yaml.in/yaml/v2 (the parser behind
// sigs.k8s.io/yaml and therefore kubectl). yaml.v3 follows YAML 1.2, where
// `yes`, `on` or `1_000` are strings; kubectl and the API server would see a
// bool or an int, and meshcert must judge manifests the way they will be
// applied.

const (
	longTagPrefix = "tag:yaml.org,2002:"
	tagStr        = longTagPrefix + "str"
	tagBool       = longTagPrefix + "bool"
	tagInt        = longTagPrefix + "int"
	tagFloat      = longTagPrefix + "float"
	tagNull       = longTagPrefix + "null"
	tagTimestamp  = longTagPrefix + "timestamp"
	tagBinary     = longTagPrefix + "binary"
	tagMerge      = longTagPrefix + "merge"
)

type resolved struct {
	tag   string
	value any
}

var resolveMap = func() map[string]resolved {
	m := make(map[string]resolved)
	for _, item := range []struct {
		v   any
		tag string
		l   []string
	}{
		{true, tagBool, []string{"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"}},
		{false, tagBool, []string{"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"}},
		{nil, tagNull, []string{"", "~", "null", "Null", "NULL"}},
		{math.NaN(), tagFloat, []string{".nan", ".NaN", ".NAN"}},
		{math.Inf(+1), tagFloat, []string{".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}},
		{math.Inf(-1), tagFloat, []string{"-.inf", "-.Inf", "-.INF"}},
	} {
		for _, s := range item.l {
			m[s] = resolved{item.tag, item.v}
		}
	}
	return m
}()

var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

func longTag(tag string) string {
	if rest, ok := strings.CutPrefix(tag, "!!"); ok {
		return longTagPrefix + rest
	}
	return tag
}

func shortTag(tag string) string {
	if rest, ok := strings.CutPrefix(tag, longTagPrefix); ok {
		return "!!" + rest
	}
	return tag
}

func resolvableTag(tag string) bool {
	switch tag {
	case "", tagStr, tagBool, tagInt, tagFloat, tagNull, tagTimestamp:
		return true
	}
	return false
}

// scalarValue returns the value yaml.v2 would produce for n when decoding
// into interface{}: nil, bool, int, int64, uint64, float64 or string.
func scalarValue(n *yaml.Node) (any, error) {
	tag := ""
	if n.Style&yaml.TaggedStyle != 0 {
		tag = longTag(n.Tag)
	} else if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		// Quoted and block scalars without an explicit tag are always strings.
		return n.Value, nil
	}
	rtag, out, err := resolve(tag, n.Value)
	if err != nil {
		return nil, err
	}
	switch rtag {
	case tagBinary:
		data, err := base64.StdEncoding.DecodeString(n.Value)
		if err != nil {
			return nil, errors.New("!!binary value contains invalid base64 data")
		}
		return jsonSafeString(string(data)), nil
	case tagTimestamp:
		// yaml.v2 keeps timestamps as strings when decoding into interface{}.
		return n.Value, nil
	}
	return out, nil
}

// resolve is yaml.v2's resolve with failf turned into an error.
func resolve(tag, in string) (string, any, error) {
	if !resolvableTag(tag) {
		return tag, in, nil
	}
	rtag, out := resolveUnchecked(tag, in)
	switch tag {
	case "", rtag, tagStr, tagBinary:
		return rtag, out, nil
	case tagFloat:
		if rtag == tagInt {
			switch v := out.(type) {
			case int64:
				return tagFloat, float64(v), nil
			case int:
				return tagFloat, float64(v), nil
			}
		}
	}
	return "", nil, fmt.Errorf("cannot decode %s `%s` as a %s", shortTag(rtag), in, shortTag(tag))
}

func resolveUnchecked(tag, in string) (string, any) {
	if tag == tagStr || tag == tagBinary {
		return tagStr, in
	}
	hint := byte('N')
	if in != "" {
		hint = in[0]
	}
	switch {
	case hint == 'N' && in == "":
		return tagNull, nil
	case hint == '+' || hint == '-' || (hint >= '0' && hint <= '9'):
		if item, ok := resolveMap[in]; ok {
			return item.tag, item.value
		}
		if tag == "" || tag == tagTimestamp {
			if t, ok := parseTimestamp(in); ok {
				return tagTimestamp, t
			}
		}
		plain := strings.ReplaceAll(in, "_", "")
		if intv, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return tagInt, intOrInt64(intv)
		}
		if uintv, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return tagInt, uintv
		}
		if yamlStyleFloat.MatchString(plain) {
			if floatv, err := strconv.ParseFloat(plain, 64); err == nil {
				return tagFloat, floatv
			}
		}
		if rest, ok := strings.CutPrefix(plain, "0b"); ok {
			if intv, err := strconv.ParseInt(rest, 2, 64); err == nil {
				return tagInt, intOrInt64(intv)
			}
			if uintv, err := strconv.ParseUint(rest, 2, 64); err == nil {
				return tagInt, uintv
			}
		} else if rest, ok := strings.CutPrefix(plain, "-0b"); ok {
			if intv, err := strconv.ParseInt("-"+rest, 2, 64); err == nil {
				return tagInt, intOrInt64(intv)
			}
		}
	case hint == '.':
		if item, ok := resolveMap[in]; ok {
			return item.tag, item.value
		}
		if floatv, err := strconv.ParseFloat(in, 64); err == nil {
			return tagFloat, floatv
		}
	case strings.IndexByte("yYnNtTfFoO~", hint) >= 0:
		if item, ok := resolveMap[in]; ok {
			return item.tag, item.value
		}
	}
	return tagStr, in
}

// intOrInt64 keeps yaml.v2's distinction so map keys stringify identically;
// on 64-bit platforms this is always int.
func intOrInt64(v int64) any {
	if v == int64(int(v)) {
		return int(v)
	}
	return v
}

var allowedTimestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

func parseTimestamp(s string) (time.Time, bool) {
	i := 0
	for ; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			break
		}
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return time.Time{}, false
	}
	for _, format := range allowedTimestampFormats {
		if t, err := time.Parse(format, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// normalize turns a yaml.v2 scalar into what kubectl ends up with after its
// YAML→JSON→unstructured trip: integers become int64, integral floats that
// JSON prints without a fraction become int64, and NaN/Inf are rejected
// because JSON cannot carry them.
func normalize(v any) (any, error) {
	switch v := v.(type) {
	case int:
		return int64(v), nil
	case uint64:
		// Only produced above MaxInt64, which JSON decoding turns into float64.
		return float64(v), nil
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("unsupported value %v: JSON cannot represent it", v)
		}
		if v == math.Trunc(v) && v >= -(1<<63) && v < 1<<63 {
			return int64(v), nil
		}
		return v, nil
	}
	return v, nil
}

// keyString converts a map key the way sigs.k8s.io/yaml does before it
// builds JSON, where every key must be a string.
func keyString(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case int:
		return strconv.Itoa(k), nil
	case int64:
		return strconv.FormatInt(k, 10), nil
	case float64:
		s := strconv.FormatFloat(k, 'g', -1, 32)
		switch s {
		case "+Inf":
			s = ".inf"
		case "-Inf":
			s = "-.inf"
		case "NaN":
			s = ".nan"
		}
		return s, nil
	case bool:
		return strconv.FormatBool(k), nil
	}
	return "", fmt.Errorf("unsupported map key %#v", k)
}

// jsonSafeString replaces invalid UTF-8 bytes the way encoding/json does, so
// that a decoded value is identical to what it becomes after Write.
func jsonSafeString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
