//! Multipart form bodies (`POST /api/v1/bom`), read from a buffered body.

use axum::body::Bytes;

/// Most parts a form may have; the BOM form has ten fields.
const MAX_FIELDS: usize = 64;

/// One part of a multipart form.
#[derive(Clone, Debug)]
pub(crate) struct FormField {
    pub(crate) name: String,
    /// Set when the part was sent as a file.
    pub(crate) file_name: Option<String>,
    pub(crate) value: Bytes,
}

impl FormField {
    pub(crate) fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

/// Whether `content_type` is a multipart form.
pub(crate) fn is_multipart(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.trim_start()
            .to_ascii_lowercase()
            .starts_with("multipart/form-data")
    })
}

/// Reads every part of a multipart body. The body is already bounded by the caller, so
/// no size limit applies here (axum's `Multipart` extractor would cap it at 2 MB).
pub(crate) async fn read(content_type: &str, body: Bytes) -> Result<Vec<FormField>, String> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
    let stream = tokio_stream::once(Ok::<Bytes, std::io::Error>(body));
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        if fields.len() == MAX_FIELDS {
            return Err(format!("more than {MAX_FIELDS} form fields"));
        }
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(String::from);
        let value = field.bytes().await.map_err(|e| e.to_string())?;
        fields.push(FormField {
            name,
            file_name,
            value,
        });
    }
    Ok(fields)
}
