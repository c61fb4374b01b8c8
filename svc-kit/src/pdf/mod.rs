//! Printable documents. A service fills a [`Document`] — a title, headings, label/value fields,
//! paragraphs, simple tables — and [`render`]s it to an A4 PDF: lines wrap at word boundaries
//! and a document too long for one page goes on over the next ones.
//!
//! Text is set in DejaVu Sans (committed under `svc-kit/fonts/` with its licence), embedded as
//! a subset with a ToUnicode map, so names in Latin, Cyrillic or Greek script print as written
//! and can be searched and copied out of the PDF. Characters are mapped to glyphs one to one,
//! without shaping: scripts that need shaping (Arabic, Indic) or right-to-left ordering are
//! not laid out correctly.

mod fonts;
mod layout;
#[cfg(test)]
mod tests;

use krilla::{
    Document as PdfDocument, geom::Point, metadata::Metadata, page::PageSettings, surface::Surface,
};

use fonts::Face;
use layout::{PAGE_HEIGHT, PAGE_WIDTH, Run, Weight};

/// What a printed document says, top to bottom.
#[derive(Debug, Clone)]
pub struct Document {
    title: String,
    blocks: Vec<Block>,
}

#[derive(Debug, Clone)]
enum Block {
    Heading(String),
    Field { label: String, value: String },
    Paragraph(String),
    Table(Table),
    Space,
}

#[derive(Debug, Clone)]
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Document {
    /// A document whose first line, and whose PDF title, is `title`.
    pub fn new(title: impl Into<String>) -> Document {
        Document {
            title: title.into(),
            blocks: Vec::new(),
        }
    }

    /// A section heading.
    pub fn heading(&mut self, text: impl Into<String>) -> &mut Document {
        self.blocks.push(Block::Heading(text.into()));
        self
    }

    /// A labelled value (`Patient  Ștefan Țurcanu`): the label in a narrow column, the value
    /// wrapped beside it.
    pub fn field(&mut self, label: impl Into<String>, value: impl Into<String>) -> &mut Document {
        self.blocks.push(Block::Field {
            label: label.into(),
            value: value.into(),
        });
        self
    }

    /// Running text over the full width; a newline starts a new line.
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Document {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }

    /// A table of equal-width columns under a bold header row, repeated on every page the
    /// table continues on. A row with fewer cells than columns leaves the rest empty.
    pub fn table(
        &mut self,
        columns: impl IntoIterator<Item = impl Into<String>>,
        rows: impl IntoIterator<Item = Vec<String>>,
    ) -> &mut Document {
        self.blocks.push(Block::Table(Table {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: rows.into_iter().collect(),
        }));
        self
    }

    /// A blank space between groups of lines.
    pub fn space(&mut self) -> &mut Document {
        self.blocks.push(Block::Space);
        self
    }
}

/// Why a document could not be rendered; neither happens with the fonts this crate ships, but
/// the renderer reports rather than panics.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the embedded font could not be read")]
    Font,
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
}

/// The document as PDF bytes.
pub fn render(document: &Document) -> Result<Vec<u8>, RenderError> {
    let regular = Face::load(fonts::REGULAR)?;
    let bold = Face::load(fonts::BOLD)?;
    let pages = layout::pages(
        document,
        &|text: &str, weight: Weight, size: f32| match weight {
            Weight::Regular => regular.width(text, size),
            Weight::Bold => bold.width(text, size),
        },
    );

    let a4 = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
        .ok_or_else(|| RenderError::Pdf("bad page size".to_string()))?;
    let mut pdf = PdfDocument::new();
    pdf.set_metadata(Metadata::new().title(document.title.clone()));
    for runs in &pages {
        let mut page = pdf.start_page_with(a4.clone());
        let mut surface = page.surface();
        for run in runs {
            let face = match run.weight {
                Weight::Regular => &regular,
                Weight::Bold => &bold,
            };
            draw(&mut surface, face, run);
        }
        surface.finish();
        page.finish();
    }
    pdf.finish()
        .map_err(|error| RenderError::Pdf(error.to_string()))
}

fn draw(surface: &mut Surface<'_>, face: &Face, run: &Run) {
    surface.draw_glyphs(
        Point::from_xy(run.x, run.baseline),
        &face.glyphs(&run.text),
        face.pdf_font(),
        &run.text,
        run.size,
        false,
    );
}
