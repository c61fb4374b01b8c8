//! A one-page PDF of lines of text, in the standard Helvetica fonts: enough for a confirmation,
//! with no font files and no dependency. Text outside Latin-1 is shown as '?' (the standard
//! fonts have no other glyphs); names in other scripts need an embedded font, which this
//! writer does not do.

use std::fmt::Write as _;

/// One line: its text, size in points, and whether it is bold.
#[derive(Debug, Clone)]
pub struct Line {
    pub text: String,
    pub size: u32,
    pub bold: bool,
}

impl Line {
    pub fn title(text: impl Into<String>) -> Line {
        Line {
            text: text.into(),
            size: 18,
            bold: true,
        }
    }

    pub fn label(text: impl Into<String>) -> Line {
        Line {
            text: text.into(),
            size: 10,
            bold: true,
        }
    }

    pub fn body(text: impl Into<String>) -> Line {
        Line {
            text: text.into(),
            size: 12,
            bold: false,
        }
    }

    pub fn gap() -> Line {
        Line {
            text: String::new(),
            size: 8,
            bold: false,
        }
    }
}

/// A string literal for a content stream: Latin-1 bytes, with `\`, `(` and `)` escaped.
fn literal(text: &str) -> String {
    let mut out = String::from("(");
    for c in text.chars() {
        match c {
            '\\' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            c if (' '..='~').contains(&c) => out.push(c),
            c if (c as u32) >= 0xA0 && (c as u32) <= 0xFF => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            _ => out.push('?'),
        }
    }
    out.push(')');
    out
}

/// Renders `lines` top-down on an A4 page.
pub fn render(lines: &[Line]) -> Vec<u8> {
    let mut content = String::from("BT\n");
    let mut y = 790.0_f32;
    for line in lines {
        y -= line.size as f32 * 1.5;
        let font = if line.bold { "F2" } else { "F1" };
        let _ = writeln!(
            content,
            "/{font} {} Tf 1 0 0 1 56 {y:.1} Tm {} Tj",
            line.size,
            literal(&line.text)
        );
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>".to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>".to_string(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
    ];
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        let _ = write!(pdf, "{} 0 obj\n{object}\nendobj\n", i + 1);
    }
    let xref = pdf.len();
    let _ = write!(pdf, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(pdf, "{offset:010} 00000 n ");
    }
    let _ = write!(
        pdf,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    pdf.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_has_a_valid_cross_reference_table() {
        let pdf = render(&[
            Line::title("Appointment (confirmed)"),
            Line::body("Café \\ 9:00"),
        ]);
        let text = String::from_utf8(pdf.clone()).unwrap();
        assert!(text.starts_with("%PDF-1.4\n"));
        assert!(text.contains("(Appointment \\(confirmed\\)) Tj"));
        assert!(
            text.contains("(Caf\\351 \\\\ 9:00) Tj"),
            "Latin-1 as octal, backslash escaped"
        );
        // Every xref offset points at its object.
        let xref_at: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(text[xref_at..].starts_with("xref"));
        for (n, line) in text[xref_at..].lines().skip(3).take(6).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            assert!(
                text[offset..].starts_with(&format!("{} 0 obj", n + 1)),
                "object {}",
                n + 1
            );
        }
    }

    #[test]
    fn text_outside_latin1_becomes_a_question_mark() {
        assert_eq!(literal("Київ"), "(????)");
    }
}
