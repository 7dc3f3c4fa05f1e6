// Command k8soracle evaluates CEL cases with Kubernetes' own DRA selector compiler
// (k8s.io/dynamic-resource-allocation/cel v0.34.4, the environment kube-apiserver 1.34
// validates new ResourceClaims with), so the Python evaluator's tables are derived from
// Kubernetes rather than written by hand.
//
// Input (stdin): a JSON list of {"expression", "mode": "value"|"match", "device"?}.
// Output (stdout): a JSON list of {"expression", "mode", "compileError"?, "error"?,
// "value"?, "matched"?, "cost"?} in the same order.
//
// "match" compiles the expression as a DRA selector and runs CompilationResult.DeviceMatches,
// exactly as the scheduler does. "value" compiles dyn(expression), so non-bool results are
// allowed, and evaluates it with the same device variable.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"

	"github.com/blang/semver/v4"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	resourceapi "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/apiserver/pkg/cel/environment"
	dracel "k8s.io/dynamic-resource-allocation/cel"
)

type deviceSpec struct {
	Driver     string                    `json:"driver"`
	Attributes map[string]map[string]any `json:"attributes"`
	Capacity   map[string]string         `json:"capacity"`
}

type inputCase struct {
	Expression string      `json:"expression"`
	Mode       string      `json:"mode"`
	Device     *deviceSpec `json:"device"`
}

type outputCase struct {
	Expression   string  `json:"expression"`
	Mode         string  `json:"mode"`
	CompileError *string `json:"compileError,omitempty"`
	Error        *string `json:"error,omitempty"`
	Value        any     `json:"value,omitempty"`
	HasValue     bool    `json:"hasValue,omitempty"`
	Matched      *bool   `json:"matched,omitempty"`
	Cost         *uint64 `json:"cost,omitempty"`
}

func main() {
	var cases []inputCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		fmt.Fprintln(os.Stderr, "reading cases:", err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "CEL compatibility version (NewExpressions):", environment.DefaultCompatibilityVersion())
	compiler := dracel.GetCompiler(dracel.Features{})
	envType := environment.NewExpressions
	results := make([]outputCase, 0, len(cases))
	for _, c := range cases {
		device, err := buildDevice(c.Device)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad device in case", c.Expression, err)
			os.Exit(2)
		}
		results = append(results, run(compiler, envType, c, device))
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", " ")
	if err := out.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "writing results:", err)
		os.Exit(2)
	}
}

func run(compiler interface {
	CompileCELExpression(string, dracel.Options) dracel.CompilationResult
}, envType environment.Type, c inputCase, device dracel.Device) outputCase {
	result := outputCase{Expression: c.Expression, Mode: c.Mode}
	if c.Mode == "value" {
		return evaluateValue(compiler, envType, c, device)
	}
	compiled := compiler.CompileCELExpression(c.Expression, dracel.Options{EnvType: &envType})
	if compiled.Error != nil {
		detail := compiled.Error.Detail
		result.CompileError = &detail
		return result
	}
	cost := compiled.MaxCost
	result.Cost = &cost
	if cost > resourceapi.CELSelectorExpressionMaxCost {
		return result // The API server refuses it, so it never runs (and it may not terminate).
	}
	matched, _, err := compiled.DeviceMatches(context.Background(), device)
	if err != nil {
		message := err.Error()
		result.Error = &message
		return result
	}
	result.Matched = &matched
	return result
}

// evaluateValue compiles in the DRA selector environment (taken from a compiled
// "true") without the bool result check, so values of any type can be compared.
func evaluateValue(compiler interface {
	CompileCELExpression(string, dracel.Options) dracel.CompilationResult
}, envType environment.Type, c inputCase, device dracel.Device) outputCase {
	result := outputCase{Expression: c.Expression, Mode: c.Mode}
	base := compiler.CompileCELExpression("true", dracel.Options{EnvType: &envType})
	ast, issues := base.Environment.Compile(c.Expression)
	if issues != nil && issues.Err() != nil {
		detail := issues.String()
		result.CompileError = &detail
		return result
	}
	program, err := base.Environment.Program(ast,
		cel.CostLimit(resourceapi.CELSelectorExpressionMaxCost),
		cel.InterruptCheckFrequency(celconfig.CheckFrequency),
	)
	if err == nil {
		var vars map[string]any
		vars, err = variables(base, device)
		if err == nil {
			var value ref.Val
			value, _, err = program.ContextEval(context.Background(), vars)
			if err == nil {
				result.Value, result.HasValue = encode(value), true
				return result
			}
		}
	}
	message := err.Error()
	result.Error = &message
	return result
}

func buildDevice(spec *deviceSpec) (dracel.Device, error) {
	if spec == nil {
		return dracel.Device{Driver: "oracle.example.com"}, nil
	}
	device := dracel.Device{
		Driver:     spec.Driver,
		Attributes: map[resourceapi.QualifiedName]resourceapi.DeviceAttribute{},
		Capacity:   map[resourceapi.QualifiedName]resourceapi.DeviceCapacity{},
	}
	for name, typed := range spec.Attributes {
		var attribute resourceapi.DeviceAttribute
		for kind, raw := range typed {
			switch kind {
			case "string":
				s := raw.(string)
				attribute.StringValue = &s
			case "version":
				s := raw.(string)
				attribute.VersionValue = &s
			case "bool":
				b := raw.(bool)
				attribute.BoolValue = &b
			case "int":
				i := int64(raw.(float64))
				attribute.IntValue = &i
			default:
				return device, fmt.Errorf("attribute %s: unknown kind %s", name, kind)
			}
		}
		device.Attributes[resourceapi.QualifiedName(name)] = attribute
	}
	for name, text := range spec.Capacity {
		quantity, err := resource.ParseQuantity(text)
		if err != nil {
			return device, fmt.Errorf("capacity %s: %w", name, err)
		}
		device.Capacity[resourceapi.QualifiedName(name)] = resourceapi.DeviceCapacity{Value: quantity}
	}
	return device, nil
}

// variables builds the "device" variable the way CompilationResult.DeviceMatches does
// (k8s.io/dynamic-resource-allocation/cel/compile.go), for value-mode evaluation.
func variables(compiled dracel.CompilationResult, input dracel.Device) (map[string]any, error) {
	attributes := map[string]any{}
	for name, attribute := range input.Attributes {
		domain, id := split(string(name), input.Driver)
		if attributes[domain] == nil {
			attributes[domain] = map[string]any{}
		}
		var value any
		switch {
		case attribute.VersionValue != nil:
			version, err := semver.Parse(*attribute.VersionValue)
			if err != nil {
				return nil, fmt.Errorf("attribute %s: parse semantic version: %w", name, err)
			}
			value = apiservercel.Semver{Version: version}
		case attribute.IntValue != nil:
			value = *attribute.IntValue
		case attribute.BoolValue != nil:
			value = *attribute.BoolValue
		case attribute.StringValue != nil:
			value = *attribute.StringValue
		}
		attributes[domain].(map[string]any)[id] = value
	}
	capacity := map[string]any{}
	for name, entry := range input.Capacity {
		domain, id := split(string(name), input.Driver)
		if capacity[domain] == nil {
			capacity[domain] = map[string]apiservercel.Quantity{}
		}
		value := entry.Value
		capacity[domain].(map[string]apiservercel.Quantity)[id] = apiservercel.Quantity{Quantity: &value}
	}
	adapter := compiled.Environment.CELTypeAdapter()
	empty := adapter.NativeToValue(map[string]any{})
	return map[string]any{
		"device": map[string]any{
			"driver":                   input.Driver,
			"allowMultipleAllocations": false,
			"attributes":               withDefault{types.NewStringInterfaceMap(adapter, attributes), empty},
			"capacity":                 withDefault{types.NewStringInterfaceMap(adapter, capacity), empty},
		},
	}, nil
}

type withDefault struct {
	traits.Mapper
	empty ref.Val
}

func (m withDefault) Find(key ref.Val) (ref.Val, bool) {
	if value, found := m.Mapper.Find(key); found {
		return value, true
	}
	return m.empty, true
}

func split(name, driver string) (string, string) {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return name[:i], name[i+1:]
		}
	}
	return driver, name
}

// encode turns a CEL value into JSON that keeps CEL's types apart: bare JSON for
// bool, int, string, null, lists and maps (as sorted [key, value] pairs), and a
// one-key object for every other type.
func encode(value ref.Val) any {
	switch v := value.(type) {
	case types.Bool:
		return bool(v)
	case types.Int:
		return map[string]any{"int": fmt.Sprint(int64(v))}
	case types.Uint:
		return map[string]any{"uint": fmt.Sprint(uint64(v))}
	case types.Double:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return map[string]any{"double": fmt.Sprint(f)}
		}
		return map[string]any{"double": f}
	case types.String:
		return string(v)
	case types.Bytes:
		return map[string]any{"bytes": base64.StdEncoding.EncodeToString(v)}
	case types.Null:
		return nil
	case apiservercel.Quantity:
		return map[string]any{"quantity": v.Quantity.String()}
	case apiservercel.Semver:
		return map[string]any{"semver": v.Version.String()}
	case apiservercel.IP:
		return map[string]any{"ip": v.Addr.String()}
	case apiservercel.CIDR:
		return map[string]any{"cidr": v.Prefix.String()}
	case apiservercel.URL:
		return map[string]any{"url": v.URL.String()}
	case ref.Type:
		return map[string]any{"type": v.TypeName()}
	case traits.Lister:
		items := []any{}
		for it := v.Iterator(); it.HasNext() == types.True; {
			items = append(items, encode(it.Next()))
		}
		return items
	case traits.Mapper:
		pairs := [][]any{}
		for it := v.Iterator(); it.HasNext() == types.True; {
			key := it.Next()
			pairs = append(pairs, []any{encode(key), encode(v.Get(key))})
		}
		sort.Slice(pairs, func(i, j int) bool { return fmt.Sprint(pairs[i][0]) < fmt.Sprint(pairs[j][0]) })
		return map[string]any{"map": pairs}
	}
	return map[string]any{"unknown": fmt.Sprintf("%T %v", value, value.Value())}
}
