use super::*;

/// The text a PDF reader extracts from every page, through the fonts' ToUnicode maps.
fn extracted_text(pdf: &[u8]) -> (usize, String) {
    let document = lopdf::Document::load_mem(pdf).unwrap();
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    (pages.len(), document.extract_text(&pages).unwrap())
}

#[test]
fn pdf_text_in_romanian_and_ukrainian_extracts_as_written() {
    let mut document = Document::new("Fișa pacientului / Картка пацієнта");
    document
        .heading("Pacient")
        .field("Nume", "Ștefan Țurcanu")
        .field("Лікар", "Олена Коваленко")
        .paragraph("Направлення: Олександр Іваненко, їжа, є")
        .paragraph("ăîâșț ĂÎÂȘȚ")
        .table(
            ["Medic", "Cabinet"],
            [vec!["Олександр Іваненко".into(), "101".into()]],
        );
    let pdf = render(&document).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));

    let (pages, text) = extracted_text(&pdf);
    assert_eq!(pages, 1);
    for expected in [
        "Fișa pacientului / Картка пацієнта",
        "Ștefan Țurcanu",
        "Олена Коваленко",
        "Олександр Іваненко",
        "їжа, є",
        "ăîâșț ĂÎÂȘȚ",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text:?}");
    }
    assert!(!text.contains('?'), "nothing replaced: {text:?}");
}

#[test]
fn pdf_embeds_only_the_glyphs_it_uses() {
    let mut document = Document::new("Ș");
    document.paragraph("Ț");
    let pdf = render(&document).unwrap();
    // Two subsets of a few glyphs each, not two fonts of 700 KB.
    assert!(pdf.len() < 40_000, "{} bytes", pdf.len());
}

#[test]
fn pdf_of_a_long_document_breaks_onto_several_pages() {
    let mut document = Document::new("Istoric / Історія");
    for n in 0..150 {
        document.field(
            format!("Vizita {n}"),
            format!("Ștefan Țurcanu — Олена Коваленко {n}"),
        );
    }
    document.paragraph("Sfârșit");
    let pdf = render(&document).unwrap();

    let (pages, text) = extracted_text(&pdf);
    assert!(pages >= 3, "{pages} pages");
    assert!(text.contains("Vizita 0"), "{text:?}");
    assert!(text.contains("Олена Коваленко 149"), "{text:?}");
    assert!(text.contains("Sfârșit"));
    assert!(text.contains(&format!("1 / {pages}")), "numbered pages");
    // The last entry is on the last page, not drawn below the first page's foot.
    let document = lopdf::Document::load_mem(&pdf).unwrap();
    let last = document.extract_text(&[pages as u32]).unwrap();
    assert!(last.contains("Sfârșit"), "{last:?}");
}
