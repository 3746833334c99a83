"""Records of the partner API and billing: storage keeps them, every layer above reads them."""
