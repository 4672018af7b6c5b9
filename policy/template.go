package policy

import (
	"fmt"
	"sort"
	"strings"
)

// TemplatePart is a piece of one command-template argument: either literal text or a placeholder.
type TemplatePart struct {
	Literal string
	// Param names the placeholder; when it is set Literal is empty.
	Param string
}

// ParseTemplateArg splits one template argument into literal text and {name} placeholders. "{{" and "}}"
// stand for literal braces. A placeholder name is lower-case letters, digits and '_'.
func ParseTemplateArg(arg string) ([]TemplatePart, error) {
	var parts []TemplatePart
	var lit strings.Builder
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		switch {
		case c == '{' && i+1 < len(arg) && arg[i+1] == '{':
			lit.WriteByte('{')
			i++
		case c == '}' && i+1 < len(arg) && arg[i+1] == '}':
			lit.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(arg[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unclosed '{' at byte %d (write \"{{\" for a literal brace)", i)
			}
			name := arg[i+1 : i+end]
			if !validParamName(name) {
				return nil, fmt.Errorf("{%s} is not a placeholder (names are lower-case letters, digits and '_')", name)
			}
			if lit.Len() > 0 {
				parts = append(parts, TemplatePart{Literal: lit.String()})
				lit.Reset()
			}
			parts = append(parts, TemplatePart{Param: name})
			i += end
		case c == '}':
			return nil, fmt.Errorf("unmatched '}' at byte %d (write \"}}\" for a literal brace)", i)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, TemplatePart{Literal: lit.String()})
	}
	return parts, nil
}

func validParamName(s string) bool {
	if s == "" || len(s) > 64 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

var paramTypes = []string{"path", "word", "int"}

func (d *decoder) command(n *node, path string) *CommandSpec {
	c := &CommandSpec{Pos: n.pos}
	templateSet := false
	invalid := map[string]bool{} // parameters declared with a problem of their own
	ok := d.obj(n, path, []field{
		{"template", func(v *node, path string) {
			templateSet = true
			d.array(v, path, MaxTemplate, func(el *node, p string) {
				if f, ok := d.str(el, p, maxStringLen); ok {
					c.Template = append(c.Template, f)
				}
			})
			if v.kind == kindArray && len(v.arr) == 0 {
				d.errs.add(v, path, "is empty (omit it to let the caller choose the command)")
			}
		}},
		{"params", func(v *node, path string) {
			if v.kind != kindObject {
				d.errs.add(v, path, fmt.Sprintf("expected an object of name: {\"type\": ...}, got %s", describe(v)))
				return
			}
			if len(v.obj) > MaxParams {
				d.errs.add(v, path, fmt.Sprintf("has %d entries, over the limit of %d", len(v.obj), MaxParams))
				return
			}
			for _, m := range v.obj {
				p := keyPath(path, m.key)
				if !validParamName(m.key) {
					d.errs.addAt(m.keyPos, p, fmt.Sprintf("%q is not a parameter name (lower-case letters, digits and '_')", m.key))
					continue
				}
				if ps, ok := d.param(m.val, p); ok {
					ps.Name = m.key
					c.Params = append(c.Params, ps)
				} else {
					invalid[m.key] = true
				}
			}
		}},
		{"allowed_commands", func(v *node, path string) {
			c.AllowedCommands = d.uniqueStrings(v, path, MaxAllowedCmds, maxStringLen, func(s string) string {
				if msg := checkSandboxPath(s); msg != "" {
					return msg + " (commands are paths inside the sandbox)"
				}
				return ""
			})
		}},
	})
	if !ok {
		return nil
	}
	if !templateSet && n.member("params") != nil {
		d.errs.add(n.member("params"), path+".params", "parameters without a template (add \"template\")")
	}
	// Every placeholder must be declared and every declared parameter used: an unused parameter is a
	// sign that the template does not say what its author thinks.
	declared := map[string]bool{}
	for _, p := range c.Params {
		declared[p.Name] = true
	}
	used := map[string]bool{}
	for i, arg := range c.Template {
		parts, err := ParseTemplateArg(arg.Value)
		p := indexPath(path+".template", i)
		if err != nil {
			d.errs.addAt(arg.Pos, p, err.Error())
			continue
		}
		for _, part := range parts {
			if part.Param == "" {
				continue
			}
			used[part.Param] = true
			// A parameter declared with a problem of its own is declared: one problem, not a second one here.
			if !declared[part.Param] && !invalid[part.Param] {
				d.errs.addAt(arg.Pos, p, fmt.Sprintf("placeholder {%s} is not declared in %s.params", part.Param, path))
			}
		}
	}
	for _, p := range c.Params {
		if !used[p.Name] && templateSet {
			d.errs.addAt(p.Pos, keyPath(path+".params", p.Name), "declared but not used in the template")
		}
	}
	// A literal program must itself be allowed, or the policy could never run its own template.
	if len(c.Template) > 0 && len(c.AllowedCommands) > 0 {
		if parts, err := ParseTemplateArg(c.Template[0].Value); err == nil && len(parts) == 1 && parts[0].Param == "" {
			found := false
			for _, a := range c.AllowedCommands {
				found = found || a.Value == parts[0].Literal
			}
			if !found {
				d.errs.addAt(c.Template[0].Pos, path+".template[0]", fmt.Sprintf("%q is not in %s.allowed_commands", parts[0].Literal, path))
			}
		}
	}
	sort.Slice(c.Params, func(i, j int) bool { return c.Params[i].Name < c.Params[j].Name })
	return c
}

func (d *decoder) param(n *node, path string) (ParamSpec, bool) {
	p := ParamSpec{Pos: n.pos}
	ok := d.obj(n, path, []field{
		{"type", func(v *node, path string) {
			if f, ok := d.str(v, path, 16); ok {
				switch ParamType(f.Value) {
				case ParamPath, ParamWord, ParamInt:
					p.Type = set(ParamType(f.Value), f.Pos)
				default:
					d.errs.add(v, path, unknownMsg("parameter type", f.Value, paramTypes))
				}
			}
		}},
		{"under", func(v *node, path string) {
			if f, ok := d.str(v, path, maxStringLen); ok {
				if msg := checkSandboxPath(f.Value); msg != "" {
					d.errs.add(v, path, msg)
					return
				}
				p.Under = f
			}
		}},
		{"allow_dash", func(v *node, path string) { p.AllowDash = d.boolean(v, path) }},
		{"max_len", func(v *node, path string) { p.MaxLen = d.integer(v, path, 1, maxArgLen) }},
	})
	if !ok {
		return p, false
	}
	if n.member("type") == nil {
		d.errs.add(n, path+".type", "required (one of: "+strings.Join(paramTypes, ", ")+")")
		return p, false
	}
	if p.Under.Set && p.Type.Set && p.Type.Value != ParamPath {
		d.errs.addAt(p.Under.Pos, path+".under", fmt.Sprintf("only a path parameter takes \"under\", not a %s", p.Type.Value))
	}
	return p, p.Type.Set
}
