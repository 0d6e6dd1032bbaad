package postgres

import (
	"reflect"
	"testing"

	"github.com/brickyard/brickyard/catalog/internal/sqlcat"
)

// TestMethodsForwarded: every exported method of the shared SQL catalog is
// a method of Catalog itself (methods.go, go generate), so that go doc
// shows it, with the same signature.
func TestMethodsForwarded(t *testing.T) {
	db, c := reflect.TypeFor[*sqlcat.DB](), reflect.TypeFor[*Catalog]()
	for i := range db.NumMethod() {
		m := db.Method(i)
		cm, ok := c.MethodByName(m.Name)
		if !ok {
			t.Errorf("Catalog lacks %s: run go generate", m.Name)
			continue
		}
		if m.Type.NumIn() != cm.Type.NumIn() || m.Type.NumOut() != cm.Type.NumOut() {
			t.Errorf("Catalog.%s is %v, sqlcat.DB.%s is %v: run go generate", m.Name, cm.Type, m.Name, m.Type)
		}
	}
}
