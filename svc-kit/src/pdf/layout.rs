//! Where each line of a document goes: text wrapped to its column, and a new page started when
//! the current one is full. It works on widths alone (the caller measures), so it is tested
//! without fonts.

use super::{Block, Document, Table};

/// A4, in points.
pub(super) const PAGE_WIDTH: f32 = 595.28;
pub(super) const PAGE_HEIGHT: f32 = 841.89;
/// 20 mm all round.
const MARGIN: f32 = 56.7;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
const BOTTOM: f32 = PAGE_HEIGHT - MARGIN;
const LABEL_COLUMN: f32 = 130.0;
const COLUMN_GAP: f32 = 10.0;
const LINE_SPACING: f32 = 1.35;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Weight {
    Regular,
    Bold,
}

#[derive(Debug, Clone, Copy)]
struct Style {
    weight: Weight,
    size: f32,
}

impl Style {
    fn line_height(self) -> f32 {
        self.size * LINE_SPACING
    }
}

const TITLE: Style = Style {
    weight: Weight::Bold,
    size: 18.0,
};
const HEADING: Style = Style {
    weight: Weight::Bold,
    size: 13.0,
};
const LABEL: Style = Style {
    weight: Weight::Bold,
    size: 10.0,
};
const BODY: Style = Style {
    weight: Weight::Regular,
    size: 11.0,
};
const TABLE_HEADER: Style = Style {
    weight: Weight::Bold,
    size: 10.0,
};
const TABLE_CELL: Style = Style {
    weight: Weight::Regular,
    size: 10.0,
};
const FOOTER: Style = Style {
    weight: Weight::Regular,
    size: 8.0,
};

/// One line of text at its place on a page; `baseline` counts down from the top edge.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Run {
    pub(super) text: String,
    pub(super) x: f32,
    pub(super) baseline: f32,
    pub(super) weight: Weight,
    pub(super) size: f32,
}

/// The width in points of some text in a weight and size.
pub(super) type Measure<'a> = &'a dyn Fn(&str, Weight, f32) -> f32;

/// The document laid out: the lines on each page, in order.
pub(super) fn pages(document: &Document, measure: Measure<'_>) -> Vec<Vec<Run>> {
    let mut pager = Pager::new(measure);
    pager.lines(&document.title, TITLE, MARGIN, CONTENT_WIDTH);
    pager.space(10.0);
    for block in &document.blocks {
        match block {
            Block::Heading(text) => pager.heading(text),
            Block::Field { label, value } => pager.field(label, value),
            Block::Paragraph(text) => {
                for line in text.lines() {
                    pager.lines(line, BODY, MARGIN, CONTENT_WIDTH);
                }
                pager.space(6.0);
            }
            Block::Table(table) => pager.table(table),
            Block::Space => pager.space(BODY.line_height() * 0.6),
        }
    }
    pager.finish()
}

struct Pager<'a> {
    measure: Measure<'a>,
    pages: Vec<Vec<Run>>,
    /// Where the next line's top goes on the last page.
    y: f32,
}

impl<'a> Pager<'a> {
    fn new(measure: Measure<'a>) -> Pager<'a> {
        Pager {
            measure,
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }

    fn at_page_top(&self) -> bool {
        self.y <= MARGIN
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = MARGIN;
    }

    /// Moves to a new page unless `height` more fits on this one; what is taller than a whole
    /// page is left to break where it must.
    fn keep_together(&mut self, height: f32) {
        if !self.at_page_top() && self.y + height > BOTTOM && height <= BOTTOM - MARGIN {
            self.new_page();
        }
    }

    /// Takes room for one line and returns the baseline of text of `style` in it.
    fn next_line(&mut self, style: Style) -> f32 {
        let height = style.line_height();
        if !self.at_page_top() && self.y + height > BOTTOM {
            self.new_page();
        }
        let baseline = self.y + style.size;
        self.y += height;
        baseline
    }

    /// Blank space, except at the top of a page.
    fn space(&mut self, height: f32) {
        if !self.at_page_top() {
            self.y = (self.y + height).min(BOTTOM);
        }
    }

    fn place(&mut self, text: &str, style: Style, x: f32, baseline: f32) {
        if text.is_empty() {
            return;
        }
        if let Some(page) = self.pages.last_mut() {
            page.push(Run {
                text: text.to_string(),
                x,
                baseline,
                weight: style.weight,
                size: style.size,
            });
        }
    }

    fn lines(&mut self, text: &str, style: Style, x: f32, width: f32) {
        for line in self.wrap(text, style, width) {
            let baseline = self.next_line(style);
            self.place(&line, style, x, baseline);
        }
    }

    fn heading(&mut self, text: &str) {
        self.space(8.0);
        let lines = self.wrap(text, HEADING, CONTENT_WIDTH);
        // Not alone at the foot of a page: with at least one line of what it heads.
        self.keep_together(lines.len() as f32 * HEADING.line_height() + BODY.line_height());
        for line in lines {
            let baseline = self.next_line(HEADING);
            self.place(&line, HEADING, MARGIN, baseline);
        }
        self.space(3.0);
    }

    fn field(&mut self, label: &str, value: &str) {
        let labels = self.wrap(label, LABEL, LABEL_COLUMN - COLUMN_GAP);
        let values = self.wrap(value, BODY, CONTENT_WIDTH - LABEL_COLUMN);
        let rows = labels.len().max(values.len());
        self.keep_together(rows as f32 * BODY.line_height());
        for row in 0..rows {
            let baseline = self.next_line(BODY);
            if let Some(label) = labels.get(row) {
                self.place(label, LABEL, MARGIN, baseline);
            }
            if let Some(value) = values.get(row) {
                self.place(value, BODY, MARGIN + LABEL_COLUMN, baseline);
            }
        }
        self.space(2.0);
    }

    fn table(&mut self, table: &Table) {
        let columns = table
            .rows
            .iter()
            .map(Vec::len)
            .chain([table.columns.len()])
            .max()
            .unwrap_or(0);
        if columns == 0 {
            return;
        }
        let column_width = CONTENT_WIDTH / columns as f32;
        let header = self.wrap_row(&table.columns, TABLE_HEADER, column_width);
        let rows: Vec<_> = table
            .rows
            .iter()
            .map(|row| self.wrap_row(row, TABLE_CELL, column_width))
            .collect();
        self.space(4.0);
        let first_row = rows.first().map_or(0.0, |row| height(row, TABLE_CELL));
        self.keep_together(height(&header, TABLE_HEADER) + first_row);
        self.row(&header, TABLE_HEADER, column_width);
        for row in &rows {
            self.keep_together(height(row, TABLE_CELL));
            if self.at_page_top() {
                self.row(&header, TABLE_HEADER, column_width);
            }
            self.row(row, TABLE_CELL, column_width);
        }
        self.space(6.0);
    }

    fn wrap_row(&self, cells: &[String], style: Style, column_width: f32) -> Vec<Vec<String>> {
        cells
            .iter()
            .map(|cell| self.wrap(cell, style, column_width - COLUMN_GAP))
            .collect()
    }

    fn row(&mut self, cells: &[Vec<String>], style: Style, column_width: f32) {
        let lines = cells.iter().map(Vec::len).max().unwrap_or(0);
        for line in 0..lines {
            let baseline = self.next_line(style);
            for (column, cell) in cells.iter().enumerate() {
                if let Some(text) = cell.get(line) {
                    let x = MARGIN + column as f32 * column_width;
                    self.place(text, style, x, baseline);
                }
            }
        }
    }

    /// `text` in lines no wider than `width`, broken between words; a word wider than a line
    /// is broken between characters. Always at least one (possibly empty) line.
    fn wrap(&self, text: &str, style: Style, width: f32) -> Vec<String> {
        let fits = |line: &str| (self.measure)(line, style.weight, style.size) <= width;
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split_whitespace() {
            let joined = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if fits(&joined) {
                line = joined;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for c in word.chars() {
                line.push(c);
                if !fits(&line) && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::replace(&mut line, c.to_string()));
                }
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// The pages, numbered at the foot when there is more than one.
    fn finish(self) -> Vec<Vec<Run>> {
        let mut pages = self.pages;
        let count = pages.len();
        if count > 1 {
            for (index, page) in pages.iter_mut().enumerate() {
                let text = format!("{} / {count}", index + 1);
                let width = (self.measure)(&text, FOOTER.weight, FOOTER.size);
                page.push(Run {
                    text,
                    x: PAGE_WIDTH - MARGIN - width,
                    baseline: PAGE_HEIGHT - MARGIN / 2.0,
                    weight: FOOTER.weight,
                    size: FOOTER.size,
                });
            }
        }
        pages
    }
}

fn height(cells: &[Vec<String>], style: Style) -> f32 {
    cells.iter().map(Vec::len).max().unwrap_or(0) as f32 * style.line_height()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character half an em wide.
    fn monospace(text: &str, _: Weight, size: f32) -> f32 {
        text.chars().count() as f32 * size * 0.5
    }

    #[test]
    fn text_wraps_between_words_within_the_width() {
        let pager = Pager::new(&monospace);
        // 10 characters at 11 pt.
        let lines = pager.wrap("one two three four five", BODY, 55.0);
        assert_eq!(lines, ["one two", "three four", "five"]);
        let long = pager.wrap("abcdefghijklmnopqrstuvwxyz", BODY, 55.0);
        assert_eq!(long, ["abcdefghij", "klmnopqrst", "uvwxyz"]);
        assert_eq!(pager.wrap("", BODY, 55.0), [""]);
    }

    #[test]
    fn a_long_document_goes_on_over_numbered_pages_within_the_margins() {
        let mut document = Document::new("Report");
        for n in 0..120 {
            document.field(format!("Line {n}"), "value");
        }
        let pages = pages(&document, &monospace);
        assert!(pages.len() > 1, "{} pages", pages.len());
        for (index, page) in pages.iter().enumerate() {
            let footer = page.last().map(|run| run.text.clone());
            assert_eq!(footer, Some(format!("{} / {}", index + 1, pages.len())));
            for run in &page[..page.len() - 1] {
                assert!(run.baseline > MARGIN && run.baseline <= BOTTOM, "{run:?}");
            }
        }
        let labels: Vec<_> = pages
            .iter()
            .flatten()
            .filter(|run| run.text.starts_with("Line "))
            .map(|run| run.text.clone())
            .collect();
        let expected: Vec<_> = (0..120).map(|n| format!("Line {n}")).collect();
        assert_eq!(labels, expected, "every field once, in order");
    }

    #[test]
    fn a_table_repeats_its_header_on_each_page() {
        let mut document = Document::new("Stock");
        document.table(
            ["Medicine", "Quantity"],
            (0..100).map(|n| vec![format!("Item {n}"), n.to_string()]),
        );
        let pages = pages(&document, &monospace);
        assert!(pages.len() > 1);
        for page in &pages {
            assert_eq!(
                page.iter().filter(|run| run.text == "Medicine").count(),
                1,
                "{page:?}"
            );
        }
    }
}
