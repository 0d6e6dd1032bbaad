package retention

import (
	"fmt"
	"io"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// MaxChartNames bounds the names a chart draws: the ones with the most
// versions.
const MaxChartNames = 12

// Chart draws the report's series with gonum.org/v1/plot: stored versions
// over time per name above, stored MiB over time per name below; format
// "svg" or "png". A catalog of more than MaxChartNames names shows the
// names with the most versions.
func (r *Report) Chart(w io.Writer, format string) error {
	series := r.Series
	if len(series) > MaxChartNames {
		series = append([]Series(nil), series...)
		last := func(s Series) int { return s.Points[len(s.Points)-1].Versions }
		for i := 1; i < len(series); i++ {
			for j := i; j > 0 && last(series[j]) > last(series[j-1]); j-- {
				series[j], series[j-1] = series[j-1], series[j]
			}
		}
		series = series[:MaxChartNames]
	}
	top, bottom := plot.New(), plot.New()
	top.Title.Text = "Stored versions per name"
	top.Y.Label.Text = "versions"
	bottom.Title.Text = "Stored bytes per name"
	bottom.Y.Label.Text = "MiB"
	for _, p := range []*plot.Plot{top, bottom} {
		p.X.Tick.Marker = plot.TimeTicks{Format: "2006-01-02\n15:04"}
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
	}
	for i, s := range series {
		vs, bs := make(plotter.XYs, 0, len(s.Points)+1), make(plotter.XYs, 0, len(s.Points)+1)
		for _, p := range s.Points {
			x := float64(p.At.Unix())
			vs = append(vs, plotter.XY{X: x, Y: float64(p.Versions)})
			bs = append(bs, plotter.XY{X: x, Y: float64(p.Bytes) / (1 << 20)})
		}
		// Extend each line to the report's time, so names end together.
		if n := len(s.Points); n > 0 {
			x := float64(r.Now.Unix())
			vs = append(vs, plotter.XY{X: x, Y: vs[n-1].Y})
			bs = append(bs, plotter.XY{X: x, Y: bs[n-1].Y})
		}
		for j, xy := range []plotter.XYs{vs, bs} {
			l, err := plotter.NewLine(xy)
			if err != nil {
				return fmt.Errorf("chart %s: %w", s.Name, err)
			}
			l.Color = plotutil.Color(i)
			l.Width = vg.Points(1.5)
			p := []*plot.Plot{top, bottom}[j]
			p.Add(l)
			p.Legend.Add(s.Name, l)
		}
	}
	width, height := 10*vg.Inch, 8*vg.Inch
	var canvas vg.CanvasWriterTo
	switch strings.ToLower(format) {
	case "svg":
		canvas = vgsvg.New(width, height)
	case "png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(width, height)}
	default:
		return fmt.Errorf("chart format %q: want svg or png", format)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(12), PadX: vg.Points(6), PadTop: vg.Points(6), PadBottom: vg.Points(6)}
	plots := [][]*plot.Plot{{top}, {bottom}}
	canvases := plot.Align(plots, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	_, err := canvas.WriteTo(w)
	return err
}
