package depcheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// maxParams is the most positional parameters an exported function or
// method may take; more become an options struct or functional options.
const maxParams = 5

// TestExportedAPIShape parses the module's non-test, non-internal library
// packages (package main and testdata left out) and checks every exported
// function and method of an exported type, and every method of an exported
// interface: no parameter is an anonymous interface (name the interface,
// so go doc shows what it asks), at most maxParams positional parameters
// (context included; a trailing ...XOption list is not counted: optional
// inputs are functional options, the one style across packages),
// and no exported struct embeds an unexported or internal type (its
// methods would not show in go doc).
func TestExportedAPIShape(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			base := d.Name()
			if rel != "." && (base == "internal" || base == "testdata" || strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		internal := map[string]bool{} // import names of internal packages
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if strings.Contains(p, "/internal/") || strings.HasSuffix(p, "/internal") {
				n := p[strings.LastIndex(p, "/")+1:]
				if im.Name != nil {
					n = im.Name.Name
				}
				internal[n] = true
			}
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if !decl.Name.IsExported() || (decl.Recv != nil && !exportedRecv(decl.Recv)) {
					continue
				}
				checkParams(t, fset, funcName(decl), decl.Type)
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					ts, ok := spec.(*ast.TypeSpec)
					if !ok || !ts.Name.IsExported() {
						continue
					}
					switch typ := ts.Type.(type) {
					case *ast.StructType:
						for _, fld := range typ.Fields.List {
							if len(fld.Names) == 0 && hidden(fld.Type, internal) {
								t.Errorf("%s: exported type %s embeds %s, an unexported or internal type: its methods do not show in go doc (forward them or export the type)", fset.Position(fld.Pos()), ts.Name.Name, exprString(fld.Type))
							}
						}
					case *ast.InterfaceType:
						for _, m := range typ.Methods.List {
							if ft, ok := m.Type.(*ast.FuncType); ok && len(m.Names) > 0 && m.Names[0].IsExported() {
								checkParams(t, fset, ts.Name.Name+"."+m.Names[0].Name, ft)
							}
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkParams(t *testing.T, fset *token.FileSet, name string, ft *ast.FuncType) {
	t.Helper()
	n := 0
	for _, p := range ft.Params.List {
		if isOptions(p.Type) {
			continue // a trailing ...XOption list is options, not positional
		}
		n += max(len(p.Names), 1)
		if _, ok := p.Type.(*ast.InterfaceType); ok && len(p.Type.(*ast.InterfaceType).Methods.List) > 0 {
			t.Errorf("%s: %s takes an anonymous interface: name it", fset.Position(p.Pos()), name)
		}
	}
	if n > maxParams {
		t.Errorf("%s: %s takes %d positional parameters, more than %d: use an options struct or functional options", fset.Position(ft.Pos()), name, n, maxParams)
	}
}

// isOptions reports whether t is a functional-options list: ...T where
// T's name ends in "Option".
func isOptions(t ast.Expr) bool {
	e, ok := t.(*ast.Ellipsis)
	return ok && strings.HasSuffix(exprString(e.Elt), "Option")
}

func exportedRecv(recv *ast.FieldList) bool {
	typ := recv.List[0].Type
	if s, ok := typ.(*ast.StarExpr); ok {
		typ = s.X
	}
	if ix, ok := typ.(*ast.IndexExpr); ok {
		typ = ix.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil {
		return fd.Name.Name
	}
	return exprString(fd.Recv.List[0].Type) + "." + fd.Name.Name
}

// hidden reports whether an embedded field's type is unexported or from an
// internal package.
func hidden(e ast.Expr, internal map[string]bool) bool {
	if s, ok := e.(*ast.StarExpr); ok {
		e = s.X
	}
	switch e := e.(type) {
	case *ast.Ident:
		return !e.IsExported()
	case *ast.SelectorExpr:
		id, ok := e.X.(*ast.Ident)
		return ok && internal[id.Name]
	}
	return false
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.StarExpr:
		return "*" + exprString(e.X)
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.IndexExpr:
		return exprString(e.X)
	}
	return "?"
}
