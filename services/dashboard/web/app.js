// The dashboard's page logic (placeholder until the page is written).
