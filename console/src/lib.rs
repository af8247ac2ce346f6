//! The iDoctor console library (being built).
