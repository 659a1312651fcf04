package auditreport

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"time"
)

//go:embed report.html.tmpl
var htmlTemplate string

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"ts":           ts,
	"tsPtr":        tsPtr,
	"list":         list,
	"listOr":       listOr,
	"contact":      contactLine,
	"hours":        hoursText,
	"yesNo":        yesNo,
	"eea":          eeaText,
	"verification": verificationLine,
	"observed":     observedLine,
	"adequacy":     adequacyText,
	"via":          viaText,
	"country":      countryText,
	"fields":       storeFields,
	"gaps":         allGaps,
	"chart":        barChart,
	"timeline":     timeline,
	"statusClass":  statusClass,
}).Parse(htmlTemplate))

func writeHTML(w io.Writer, r *Report) error { return htmlTmpl.Execute(w, r) }

func statusClass(status string) string {
	switch status {
	case TransferAdequate, TransferDeclared:
		return "ok"
	case TransferProblem:
		return "bad"
	}
	return "warn"
}

// The pictures are inline SVG whose geometry is computed here; the template only writes it out,
// escaped.

const (
	chartWidth  = 900
	chartLabelW = 180
	chartBarH   = 22
	chartGap    = 8
	chartTop    = 8
	// maxTimelineRows bounds the timeline's rows; the tables list every entry.
	maxTimelineRows = 40
)

// Bar is one bar of the pod-hours chart.
type Bar struct {
	Label           string
	Value           string
	Y, W, TextY, VX float64
	Class           string
}

// Chart is the pod-hours-per-country bar chart of a store.
type Chart struct {
	Width, Height, LabelW float64
	Bars                  []Bar
	Empty                 bool
}

func barChart(ev Evidence) Chart {
	c := Chart{Width: chartWidth, LabelW: chartLabelW}
	var most float64
	for _, l := range ev.Locations {
		most = max(most, l.PodHours)
	}
	y := float64(chartTop)
	for _, l := range ev.Locations {
		if l.PodHours <= 0 {
			continue
		}
		w := 0.0
		if most > 0 {
			w = (chartWidth - chartLabelW - 110) * l.PodHours / most
		}
		class := "eea"
		switch {
		case l.Country == "":
			class = "unknown"
		case !l.InEEA:
			class = "third"
		}
		label := countryText(l.Country)
		if !l.InEEA && l.Country != "" {
			label += " (outside EU/EEA)"
		}
		c.Bars = append(c.Bars, Bar{Label: label, Value: hoursText(l.PodHours) + " pod-h", Y: y, W: round1(max(w, 1)),
			TextY: y + chartBarH*0.7, VX: round1(chartLabelW + max(w, 1) + 6), Class: class})
		y += chartBarH + chartGap
	}
	c.Empty = len(c.Bars) == 0
	c.Height = y + chartTop
	return c
}

// Span is one bar of the timeline.
type Span struct {
	X, W, Y float64
	Class   string
	Title   string
}

// Lane is one row of the timeline, with its label.
type Lane struct {
	Label string
	Y     float64
	TextY float64
	Spans []Span
}

// Tick is a date on the timeline's axis.
type Tick struct {
	X      float64
	Label  string
	Anchor string
}

// Timeline is the picture of violations, holds, exceptions and unobserved time over the period.
type Timeline struct {
	Width, Height, LabelW, AxisY, PlotW float64
	Lanes                               []Lane
	Ticks                               []Tick
	More                                int
	MoreY                               float64
	Empty                               bool
}

func timeline(r *Report, ev Evidence) Timeline {
	const laneH, top = 20.0, 24.0
	t := Timeline{Width: chartWidth, LabelW: chartLabelW, PlotW: chartWidth - chartLabelW - 10}
	from, to := r.Period.From, r.Period.To
	span := to.Sub(from).Seconds()
	x := func(at time.Time) float64 {
		if span <= 0 {
			return chartLabelW
		}
		f := at.Sub(from).Seconds() / span
		return round1(chartLabelW + t.PlotW*min(max(f, 0), 1))
	}
	end := func(e *time.Time) time.Time {
		if e == nil {
			return to
		}
		return *e
	}
	type row struct {
		label string
		spans []Span
	}
	var rows []row
	mk := func(a, b time.Time, class, title string) Span {
		x0, x1 := x(a), x(b)
		return Span{X: x0, W: round1(max(x1-x0, 2)), Class: class, Title: title}
	}
	if g := allGaps(&ev); len(g) > 0 {
		var spans []Span
		for _, gap := range g {
			spans = append(spans, mk(gap.From, gap.To, "gap", "not observed "+ts(gap.From)+" to "+ts(gap.To)+": "+gap.Why))
		}
		rows = append(rows, row{"not observed", spans})
	}
	for _, v := range ev.Violations {
		rows = append(rows, row{"violation " + v.Name, []Span{mk(v.Start, end(v.End), "violation",
			fmt.Sprintf("%s %s: %s from %s to %s", v.Kind, v.Name, v.Reason, ts(v.Start), tsPtr(v.End, "lasting")))}})
	}
	for _, h := range ev.Holds {
		rows = append(rows, row{"held " + h.Pod, []Span{mk(h.Start, end(h.End), "hold",
			fmt.Sprintf("eviction of %s held from %s to %s: %s", h.Pod, ts(h.Start), tsPtr(h.End, "lasting"), h.Why))}})
	}
	for _, e := range ev.Exceptions {
		last := e.Last
		rows = append(rows, row{"exception " + e.Name, []Span{mk(e.First, last, "exception",
			fmt.Sprintf("exception %s in force from %s to %s", e.Name, ts(e.First), ts(last)))}})
	}
	if len(rows) > maxTimelineRows {
		t.More = len(rows) - maxTimelineRows
		rows = rows[:maxTimelineRows]
	}
	y := top
	for _, rw := range rows {
		l := Lane{Label: truncate(rw.label, 28), Y: y, TextY: y + laneH*0.65}
		for _, s := range rw.spans {
			s.Y = y + 3
			l.Spans = append(l.Spans, s)
		}
		t.Lanes = append(t.Lanes, l)
		y += laneH
	}
	t.Empty = len(rows) == 0
	t.MoreY = y + 14
	t.AxisY = 16
	for i := 0; i <= 4; i++ {
		at := from.Add(time.Duration(float64(to.Sub(from)) * float64(i) / 4))
		anchor := "middle"
		if i == 4 {
			anchor = "end"
		}
		t.Ticks = append(t.Ticks, Tick{X: x(at), Label: at.UTC().Format("2006-01-02 15:04"), Anchor: anchor})
	}
	t.Height = y + 8
	if t.More > 0 {
		t.Height += 20
	}
	return t
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func round1(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 1, 64), 64)
	return v
}
