//! Location and camera metadata: which EXIF fields count as private, and the orientation an image is shown in.

use exif::{Context, In, Tag};

/// What an image's metadata says, as far as Postora cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Facts {
    /// Location, camera or owner metadata is present (or metadata that could not be read, which is treated alike).
    pub private: bool,
    /// EXIF orientation, 1 (upright) to 8.
    pub orientation: u16,
}

impl Default for Facts {
    fn default() -> Self {
        Self {
            private: false,
            orientation: 1,
        }
    }
}

impl Facts {
    /// Whether the picture is shown turned a quarter (orientations 5 to 8), so that width and height swap.
    pub fn turns_sideways(&self) -> bool {
        (5..=8).contains(&self.orientation)
    }
}

/// EXIF fields that identify a camera, a lens or a person, beside the GPS ones.
const PRIVATE_TAGS: &[Tag] = &[
    Tag::Make,
    Tag::Model,
    Tag::LensMake,
    Tag::LensModel,
    Tag::BodySerialNumber,
    Tag::LensSerialNumber,
    Tag::CameraOwnerName,
    Tag::Artist,
    Tag::MakerNote,
    Tag::ImageUniqueID,
    Tag::GPSInfoIFDPointer,
];

/// Reads an EXIF block (TIFF bytes, without the `Exif\0\0` prefix JPEG puts before them) into `facts`.
pub(crate) fn read_exif(tiff: Vec<u8>, facts: &mut Facts) {
    match exif::Reader::new().read_raw(tiff) {
        Ok(exif) => merge(&exif, facts),
        // A block that cannot be read cannot be shown to hold nothing private.
        Err(_) => facts.private = true,
    }
}

/// Reads the EXIF block of a HEIF file through the container.
pub(crate) fn read_heif_exif<R: std::io::BufRead + std::io::Seek>(
    reader: &mut R,
    facts: &mut Facts,
) {
    match exif::Reader::new().read_from_container(reader) {
        Ok(exif) => {
            // HEIF turns pictures with its own `irot` property, not with EXIF orientation.
            let orientation = facts.orientation;
            merge(&exif, facts);
            facts.orientation = orientation;
        }
        Err(exif::Error::NotFound(_)) => {}
        Err(_) => facts.private = true,
    }
}

fn merge(exif: &exif::Exif, facts: &mut Facts) {
    if exif
        .fields()
        .any(|f| f.tag.context() == Context::Gps || PRIVATE_TAGS.contains(&f.tag))
    {
        facts.private = true;
    }
    if let Some(o) = exif
        .get_field(Tag::Orientation, In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|o| u16::try_from(o).ok())
        .filter(|o| (1..=8).contains(o))
    {
        facts.orientation = o;
    }
}

/// Orientation of an in-memory JPEG, PNG or WebP from its EXIF block (1 when it has none).
pub(crate) fn orientation_of(exif_tiff: Option<&[u8]>) -> u16 {
    let mut facts = Facts::default();
    if let Some(tiff) = exif_tiff {
        read_exif(tiff.to_vec(), &mut facts);
    }
    facts.orientation
}
